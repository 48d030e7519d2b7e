"""``TaskEnds``: end reports of one run that arrive while its lock is held go together in one
transaction; each still answers for itself, a report sent twice at once is applied once, and a
batch the database refuses is applied again report by report.

The run's lock is held from a second session, as another end's transaction would hold it, so
that reports pile up behind it for certain.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import DataError

from airlock.db import DagRun, TaskInstanceHistory
from airlock.execution.task_ends import TaskEnds
from airlock.models.execution import TaskSucceeded
from airlock.models.states import TaskInstanceState
from airlock.scheduling import DagCache, StateConflict, TaskEnd

from .conftest import ExecEnv, task, utcnow

RUN = ("wide", "manual__1")


def _running(env: ExecEnv, count: int) -> list[str]:
    env.add_dag("wide", tasks=[task(f"t{i}") for i in range(count)])
    env.add_run("wide")
    return [
        env.add_ti(
            "wide",
            f"t{i}",
            state=TaskInstanceState.RUNNING,
            try_number=1,
            start_date=utcnow(),
            hostname="h",
        )
        for i in range(count)
    ]


@contextmanager
def _run_locked(env: ExecEnv) -> Iterator[None]:
    """Hold the run's lock (its row's on PostgreSQL, the write lock on SQLite) until the end of
    the block."""
    with env.session() as session:
        session.execute(
            update(DagRun)
            .where(DagRun.dag_id == RUN[0], DagRun.run_id == RUN[1])
            .values(last_scheduling_decision=utcnow())
        )
        yield
        session.rollback()


def _count_run_locks(env: ExecEnv) -> list[str]:
    """Every statement that locks a run for a task's end, as the engine runs them."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        text = statement.upper()
        if "UPDATE DAG_RUN SET LAST_SCHEDULING_DECISION" in text and "RETURNING" in text:
            seen.append(statement)

    event.listen(env.db.engine, "before_cursor_execute", record)
    return seen


def _in_threads(calls: list[Callable[[], Any]]) -> tuple[list[threading.Thread], list[Any]]:
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    return threads, results


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _history_rows(env: ExecEnv) -> int:
    with env.session() as session:
        return session.scalar(select(func.count()).select_from(TaskInstanceHistory)) or 0


def test_reports_that_wait_for_the_run_go_together_in_one_transaction(env: ExecEnv) -> None:
    ids = _running(env, 5)
    ends = TaskEnds(env.db.sessions, DagCache())
    locks = _count_run_locks(env)
    with _run_locked(env):
        first, first_result = _in_threads(
            [lambda: ends.apply(RUN, TaskEnd(ids[0], TaskSucceeded(end_date=utcnow())))]
        )
        _wait_for(lambda: RUN in ends._busy)  # the first report's batch waits for the lock
        rest, rest_results = _in_threads(
            [
                lambda ti_id=ti_id: ends.apply(
                    RUN, TaskEnd(ti_id, TaskSucceeded(end_date=utcnow()))
                )
                for ti_id in ids[1:]
            ]
        )
        _wait_for(lambda: len(ends._waiting.get(RUN, [])) == 4)
    for thread in first + rest:
        thread.join(30)
    assert first_result + rest_results == [TaskInstanceState.SUCCESS] * 5
    assert len(locks) == 2  # the first report alone, then the other four together
    assert _history_rows(env) == 5
    assert {env.ti(ti_id).state for ti_id in ids} == {TaskInstanceState.SUCCESS}


def test_a_report_sent_twice_at_once_is_applied_once(env: ExecEnv) -> None:
    (ti_id,) = _running(env, 1)
    ends = TaskEnds(env.db.sessions, DagCache())
    report = TaskEnd(ti_id, TaskSucceeded(end_date=utcnow()), try_number=1)
    with _run_locked(env):
        threads, results = _in_threads([lambda: ends.apply(RUN, report)] * 3)
        _wait_for(lambda: len(ends._waiting.get(RUN, [])) == 2)
    for thread in threads:
        thread.join(30)
    assert results == [TaskInstanceState.SUCCESS] * 3
    assert _history_rows(env) == 1


def test_a_stale_report_is_refused_without_holding_up_the_others(env: ExecEnv) -> None:
    ids = _running(env, 3)
    ends = TaskEnds(env.db.sessions, DagCache())
    with _run_locked(env):
        threads, results = _in_threads(
            [
                lambda ti_id=ti_id, n=n: ends.apply(
                    RUN, TaskEnd(ti_id, TaskSucceeded(end_date=utcnow()), try_number=n)
                )
                for n, ti_id in enumerate(ids)  # only the try numbered 1 is running
            ]
        )
        _wait_for(lambda: len(ends._waiting.get(RUN, [])) >= 2)
    for thread in threads:
        thread.join(30)
    assert isinstance(results[0], StateConflict)
    assert results[1] is TaskInstanceState.SUCCESS
    assert isinstance(results[2], StateConflict)
    assert [env.ti(ti_id).state for ti_id in ids] == [
        TaskInstanceState.RUNNING,
        TaskInstanceState.SUCCESS,
        TaskInstanceState.RUNNING,
    ]


def test_a_batch_the_database_refuses_is_applied_report_by_report(env: ExecEnv) -> None:
    if env.db.is_sqlite:
        pytest.skip("SQLite stores an integer of any size: no value here makes it refuse")
    ids = _running(env, 3)
    ends = TaskEnds(env.db.sessions, DagCache())
    outcomes = [
        TaskSucceeded(end_date=utcnow()),
        TaskSucceeded(end_date=utcnow(), pid=2**40),  # beyond the pid column's range
        TaskSucceeded(end_date=utcnow()),
    ]
    with _run_locked(env):
        blocker, _ = _in_threads([lambda: ends.apply(RUN, TaskEnd(ids[0], outcomes[0]))])
        _wait_for(lambda: RUN in ends._busy)
        threads, results = _in_threads(
            [lambda n=n: ends.apply(RUN, TaskEnd(ids[n], outcomes[n])) for n in (1, 2)]
        )
        _wait_for(lambda: len(ends._waiting.get(RUN, [])) == 2)
    for thread in blocker + threads:
        thread.join(30)
    assert isinstance(results[0], DataError)
    assert results[1] is TaskInstanceState.SUCCESS
    assert env.ti(ids[1]).state is TaskInstanceState.RUNNING
    assert env.ti(ids[2]).state is TaskInstanceState.SUCCESS
