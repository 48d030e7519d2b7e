"""One DAG of a file that cannot be stored costs only itself: it becomes an import error naming
it, and the file's other DAGs are stored (real parser processes)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from airlock.dag_processor.bundle import BundleFileEntry
from airlock.dag_processor.pool import ParserPool

pytestmark = pytest.mark.slow

MIXED = """
import pendulum
from airlock.sdk import DAG, Param, task
from airlock.sdk.operators.empty import EmptyOperator

with DAG("fine", start_date=pendulum.datetime(2021, 1, 1, tz="UTC"), schedule="@daily"):
    EmptyOperator(task_id="ok")

# a param default with no JSON form: this DAG cannot be serialized
with DAG("unserializable", schedule=None, params={"p": Param(object())}):
    EmptyOperator(task_id="a")

# a cycle: this DAG cannot be scheduled
with DAG("cyclic", schedule=None):
    a = EmptyOperator(task_id="a")
    b = EmptyOperator(task_id="b")
    a >> b >> a

with DAG("also_fine", schedule=None):
    EmptyOperator(task_id="ok")

# a param default that breaks its own schema
with DAG("bad_default", schedule=None, params={"n": Param("x", type="integer")}):
    EmptyOperator(task_id="a")
"""


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[ParserPool]:
    parsers = ParserPool(
        1,
        timeout_s=10,
        max_files=100,
        get_variable=lambda key: None,
        get_connection=lambda conn_id: None,
        cwd=tmp_path,
    )
    yield parsers
    parsers.close()


def test_each_broken_dag_is_an_error_naming_it_and_the_others_are_stored(
    pool: ParserPool, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.py"
    path.write_text(textwrap.dedent(MIXED))
    entry = BundleFileEntry(path=path, relative_path="mixed.py", content_hash="-")
    ((_, parsed),) = pool.parse_all([entry], tmp_path)
    assert sorted(d.metadata.dag_id for d in parsed.dags) == ["also_fine", "fine"]
    assert parsed.import_error is not None
    errors = parsed.import_error.split("\n\n")
    assert len(errors) == 3
    assert errors[0].startswith("DAG 'bad_default' was not stored (the file's other DAGs were): ")
    assert "the default of param 'n' is invalid" in errors[0]
    assert errors[1].startswith("DAG 'cyclic' was not stored")
    assert "the DAG has a cycle: a -> b -> a" in errors[1]
    assert errors[2].startswith("DAG 'unserializable' was not stored")
    assert "param 'p' must have a plain-JSON default" in errors[2]
    assert not parsed.must_restart
