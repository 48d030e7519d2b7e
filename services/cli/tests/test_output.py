"""The CLI's table and JSON printers."""

from __future__ import annotations

import datetime as dt
import io
import json

import msgspec

from airlock.cli.output import print_record, print_table
from airlock.models.states import DagRunState


class Row(msgspec.Struct):
    dag_id: str
    tags: list[str]
    is_paused: bool
    last_run_state: DagRunState | None
    next_run: dt.datetime | None


ROWS = [
    Row(
        "etl",
        ["daily", "finance"],
        False,
        DagRunState.SUCCESS,
        dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
    ),
    Row("a_much_longer_dag_id", [], True, None, None),
]


def test_table_aligns_columns_and_formats_values() -> None:
    out = io.StringIO()
    print_table(
        ROWS, ["dag_id", "tags", "is_paused", "last_run_state", "next_run"], "table", file=out
    )
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["DAG_ID", "TAGS", "IS_PAUSED", "LAST_RUN_STATE", "NEXT_RUN"]
    assert lines[1].startswith("etl ")
    assert "daily, finance" in lines[1]
    assert "success" in lines[1]
    assert "2026-01-02 00:00:00" in lines[1]
    assert lines[2].startswith("a_much_longer_dag_id  ")
    assert " yes" in lines[2]
    # Every column starts at the same offset on every line.
    start = lines[0].index("TAGS")
    assert lines[1][start - 2 : start] == "  "
    assert lines[1][start] == "d"


def test_json_prints_the_whole_payload() -> None:
    out = io.StringIO()
    payload = {"dags": ROWS, "total_entries": 2}
    print_table(ROWS, ["dag_id"], "json", payload=payload, file=out)
    decoded = json.loads(out.getvalue())
    assert decoded["total_entries"] == 2
    assert decoded["dags"][0] == {
        "dag_id": "etl",
        "tags": ["daily", "finance"],
        "is_paused": False,
        "last_run_state": "success",
        "next_run": "2026-01-02T00:00:00Z",
    }


def test_record_as_lines_or_json() -> None:
    out = io.StringIO()
    print_record(ROWS[0], ["dag_id", "tags"], "table", file=out)
    assert out.getvalue().splitlines() == ["dag_id  etl", "tags    daily, finance"]
    out = io.StringIO()
    print_record(ROWS[1], ["dag_id"], "json", file=out)
    assert json.loads(out.getvalue())["is_paused"] is True
