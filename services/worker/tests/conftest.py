"""Shared pieces of the worker's unit tests: a clean SDK state per test, DAG files written into a
temporary bundle, and the messages a supervisor would send for a task of such a file."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airlock.models.execution import DagRunInfo, TaskInstanceRef, TaskRunContext
from airlock.models.states import DagRunState
from airlock.sdk.definitions import _active
from airlock.sdk.definitions.context import set_parsing_context
from airlock.sdk.execution_time import dag_files
from airlock.sdk.execution_time.comms import set_comms
from airlock.sdk.execution_time.protocol import StartTask

LOGICAL_DATE = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    _active.clear()
    previous = set_comms(None)
    yield
    _active.clear()
    set_comms(previous)
    dag_files._cache.clear()
    dag_files._failed.clear()
    # Loading a task's DAG sets the process's parsing context (once per task process); here
    # many tasks load in one process.
    set_parsing_context(None, None)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    folder.mkdir()
    return folder


@pytest.fixture
def write_dag(bundle: Path) -> Callable[[str, str], Path]:
    """Write a DAG file (dedented source) into the bundle; return its path."""

    def write(name: str, source: str) -> Path:
        path = bundle / name
        path.write_text(textwrap.dedent(source))
        return path

    return write


def dag_run(dag_id: str, run_id: str = "manual__1", **values: Any) -> DagRunInfo:
    return DagRunInfo(
        dag_id=dag_id,
        run_id=run_id,
        run_type="manual",
        state=DagRunState.RUNNING,
        logical_date=LOGICAL_DATE,
        data_interval_start=LOGICAL_DATE,
        data_interval_end=LOGICAL_DATE,
        **values,
    )


def start_task(
    bundle: Path,
    file: str,
    dag_id: str,
    task_id: str,
    *,
    map_index: int = -1,
    nonce: str = "n0nce",
    **run: Any,
) -> StartTask:
    return StartTask(
        nonce=nonce,
        ti=TaskInstanceRef(
            id=f"ti-{task_id}-{map_index}",
            dag_id=dag_id,
            run_id="manual__1",
            task_id=task_id,
            map_index=map_index,
        ),
        bundle="test",
        bundle_root=str(bundle),
        relative_fileloc=file,
        dag_run=dag_run(dag_id, **run),
    )


def run_context(start: StartTask, **values: Any) -> TaskRunContext:
    return TaskRunContext(
        dag_run=start.dag_run, try_number=values.pop("try_number", 1), max_tries=0, **values
    )


@pytest.fixture
def make_start(bundle: Path) -> Callable[..., StartTask]:
    """``make_start(file, dag_id, task_id, map_index=-1, **dag_run_values)``."""

    def make(file: str, dag_id: str, task_id: str, **options: Any) -> StartTask:
        return start_task(bundle, file, dag_id, task_id, **options)

    return make


@pytest.fixture
def make_context() -> Callable[..., TaskRunContext]:
    return run_context
