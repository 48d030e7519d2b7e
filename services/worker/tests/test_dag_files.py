"""DAG files as a task process finds them: preloaded by the zygote while unchanged, imported by
the task itself otherwise."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airlock.sdk.execution_time import dag_files
from airlock.sdk.testing import InMemoryComms, use_comms

SOURCE = """
from airlock.sdk import dag, task
import helper

@dag(schedule=None)
def {dag_id}():
    @task
    def t():
        return helper.VALUE
    t()

{dag_id}()
"""


def bump(path: Path, text: str) -> None:
    """Rewrite a file so its stamp surely changes (same-size rewrites within one clock tick)."""
    stat = path.stat()
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.fixture(autouse=True)
def _fresh_helper() -> Iterator[None]:
    sys.modules.pop("helper", None)
    yield
    sys.modules.pop("helper", None)


@pytest.fixture
def dag_file(write_dag: Callable[[str, str], Path]) -> Path:
    write_dag("helper.py", "VALUE = 1\n")
    return write_dag("one.py", SOURCE.format(dag_id="one"))


def test_preload_caches_and_load_uses_the_cache(dag_file: Path, bundle: Path) -> None:
    assert dag_files.preload(str(dag_file), str(bundle))
    first = dag_files.load_dag(str(dag_file), str(bundle), "one")
    assert dag_files.load_dag(str(dag_file), str(bundle), "one") is first
    assert dag_files.preload(str(dag_file), str(bundle))
    assert dag_files.load_dag(str(dag_file), str(bundle), "one") is first


def test_a_changed_file_or_helper_module_is_imported_again(dag_file: Path, bundle: Path) -> None:
    dag_files.preload(str(dag_file), str(bundle))
    first = dag_files.load_dag(str(dag_file), str(bundle), "one")
    bump(bundle / "helper.py", "VALUE = 2\n")
    second = dag_files.load_dag(str(dag_file), str(bundle), "one")
    assert second is not first
    assert dag_files.preload(str(dag_file), str(bundle))
    third = dag_files.load_dag(str(dag_file), str(bundle), "one")
    assert third is not first
    import helper  # type: ignore[import-not-found]

    assert helper.VALUE == 2


def test_a_file_needing_the_api_at_import_is_left_to_the_task(
    write_dag: Callable[[str, str], Path], bundle: Path
) -> None:
    path = write_dag(
        "needs_var.py",
        """
        from airlock.sdk import DAG, EmptyOperator, Variable

        with DAG(Variable.get("dag_name"), schedule=None) as dag:
            EmptyOperator(task_id="e")
        """,
    )
    assert not dag_files.preload(str(path), str(bundle))
    assert not dag_files.preload(str(path), str(bundle)), "a failure is remembered"
    with use_comms(InMemoryComms(variables={"dag_name": "named"})):
        dag = dag_files.load_dag(str(path), str(bundle), "named")
    assert dag.task_ids == ["e"]


def test_missing_file_and_missing_dag_say_what_to_check(dag_file: Path, bundle: Path) -> None:
    with pytest.raises(dag_files.DagNotFound, match=r"does not exist on this worker"):
        dag_files.load_dag(str(bundle / "gone.py"), str(bundle), "one")
    with pytest.raises(
        dag_files.DagNotFound, match=r"does not define DAG 'two' \(it defines: one\)"
    ):
        dag_files.load_dag(str(dag_file), str(bundle), "two")


def test_the_cache_is_bounded(
    write_dag: Callable[[str, str], Path], bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dag_files, "MAX_CACHED_FILES", 2)
    write_dag("helper.py", "VALUE = 1\n")
    paths = [write_dag(f"d{i}.py", SOURCE.format(dag_id=f"d{i}")) for i in range(3)]
    for path in paths:
        assert dag_files.preload(str(path), str(bundle))
    assert list(dag_files._cache) == [str(p) for p in paths[1:]]
