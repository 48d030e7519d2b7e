"""The README's table of Airflow 3.3 authoring names stays true: every Airlock name it lists as
supported or different imports (``tests/test_airflow_cli.py`` checks the migration against it)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
ROW = re.compile(
    r"^\| `(?P<airflow>airflow\.[\w.]+)` \| (?:`(?P<airlock>airlock\.[\w.]+)`|—) \| "
    r"(?P<status>supported|different|not supported) \|",
    re.MULTILINE,
)
ROWS = [m.groupdict() for m in ROW.finditer(README.read_text())]


def _import(dotted: str) -> object:
    module, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except AttributeError:
        return importlib.import_module(dotted)


def test_the_table_is_there() -> None:
    assert len(ROWS) > 50
    assert all((row["airlock"] is None) == (row["status"] == "not supported") for row in ROWS)


@pytest.mark.parametrize("row", [r for r in ROWS if r["airlock"]], ids=lambda r: r["airflow"])
def test_each_listed_airlock_name_imports(row: dict[str, str]) -> None:
    assert _import(row["airlock"]) is not None
    assert row["airlock"].rsplit(".", 1)[1] == row["airflow"].rsplit(".", 1)[1]
