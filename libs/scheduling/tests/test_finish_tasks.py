"""``finish_tasks``: several ends of one run in one transaction — each answers for itself, a
refused one writes nothing, and the run is scheduled once for all of them (every slot the batch
freed is filled, a downstream task waiting on several of them is queued once)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, update

from airlock.db import DagRun, TaskInstance, TaskInstanceHistory
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import StateConflict, TaskEnd, TaskInstanceNotFound, finish_tasks

from .conftest import T0, Env, fail, make_dag, succeed, task


def _finish_all(env: Env, ends: list[TaskEnd], run_key: tuple[str, str] | None = None) -> list:
    with env.sessions() as session:
        results = finish_tasks(session, ends, env.cache, T0, run_key=run_key)
        session.commit()
    return results


def _history_rows(env: Env, ti_id: str) -> int:
    with env.sessions() as session:
        return session.scalar(
            select(func.count())
            .select_from(TaskInstanceHistory)
            .where(TaskInstanceHistory.task_instance_id == ti_id)
        )


def test_ends_of_one_batch_fill_every_slot_they_free(env: Env) -> None:
    env.install(make_dag("wide", [task(f"t{i}") for i in range(10)], max_active_tasks=4))
    run = env.trigger("wide")
    first = env.queued(run)
    assert len(first) == 4
    for ti in first:
        env.start(ti.id)
    results = _finish_all(env, [TaskEnd(ti.id, succeed()) for ti in first])
    assert results == [TIS.SUCCESS] * 4
    assert len(env.queued(run)) == 4  # all four freed slots, not one
    assert sorted(s for s in env.states(run).values() if s is TIS.SUCCESS) == [TIS.SUCCESS] * 4
    assert env.work(run) is DagRunState.SUCCESS


def test_siblings_ending_together_queue_their_common_downstream_once(env: Env) -> None:
    env.install(make_dag("join", [task("a"), task("b"), task("c"), task("after", ["a", "b", "c"])]))
    run = env.trigger("join")
    tis = env.queued(run)
    for ti in tis:
        env.start(ti.id)
    assert _finish_all(env, [TaskEnd(ti.id, succeed()) for ti in tis]) == [TIS.SUCCESS] * 3
    assert [ti.task_id for ti in env.queued(run)] == ["after"]


def test_a_refused_end_writes_nothing_and_the_others_apply(env: Env) -> None:
    env.install(make_dag("mixed", [task("a"), task("b"), task("c", retries=1)]))
    run = env.trigger("mixed")
    a, b, c = (env.ti(run, t) for t in ("a", "b", "c"))
    env.start(a.id)
    env.start(c.id)
    results = _finish_all(
        env,
        [
            TaskEnd(a.id, succeed(), try_number=1),
            TaskEnd(b.id, succeed()),  # never started: still queued
            TaskEnd(c.id, fail(), try_number=7),  # another try's report
            TaskEnd("no-such-task-instance", succeed()),
        ],
    )
    assert results[0] is TIS.SUCCESS
    assert isinstance(results[1], StateConflict)
    assert results[1].current == "queued"
    assert isinstance(results[2], StateConflict)
    assert results[2].current == "running"
    assert isinstance(results[3], TaskInstanceNotFound)
    assert env.states(run) == {"a": TIS.SUCCESS, "b": TIS.QUEUED, "c": TIS.RUNNING}
    assert (_history_rows(env, a.id), _history_rows(env, b.id), _history_rows(env, c.id)) == (
        1,
        0,
        0,
    )


def test_a_repeated_report_in_a_later_batch_answers_as_the_first(env: Env) -> None:
    env.install(make_dag("again", [task("a"), task("b")]))
    run = env.trigger("again")
    a, b = env.ti(run, "a"), env.ti(run, "b")
    env.start(a.id)
    env.start(b.id)
    report = succeed()
    assert _finish_all(env, [TaskEnd(a.id, report)]) == [TIS.SUCCESS]
    assert _finish_all(env, [TaskEnd(a.id, report), TaskEnd(b.id, fail())]) == [
        TIS.SUCCESS,
        TIS.FAILED,
    ]
    assert _history_rows(env, a.id) == 1
    assert env.run_state(run) is DagRunState.FAILED


def test_a_batch_holds_each_task_instance_once(env: Env) -> None:
    env.install(make_dag("twice", [task("a")]))
    run = env.trigger("twice")
    a = env.ti(run, "a")
    env.start(a.id)
    with env.sessions() as session, pytest.raises(ValueError, match="once"):
        finish_tasks(session, [TaskEnd(a.id, succeed()), TaskEnd(a.id, succeed())], env.cache, T0)


def test_with_a_run_key_a_task_instance_of_another_run_is_not_found(env: Env) -> None:
    env.install(make_dag("two_runs", [task("a")]))
    first = env.trigger("two_runs", run_id="first")
    second = env.trigger("two_runs", run_id="second")
    a1, a2 = env.ti(first, "a"), env.ti(second, "a")
    env.start(a1.id)
    env.start(a2.id)
    results = _finish_all(
        env, [TaskEnd(a1.id, succeed()), TaskEnd(a2.id, succeed())], run_key=("two_runs", "first")
    )
    assert results[0] is TIS.SUCCESS
    assert isinstance(results[1], TaskInstanceNotFound)
    assert env.states(second) == {"a": TIS.RUNNING}
    assert env.run_state(first) is DagRunState.SUCCESS


@pytest.mark.parametrize(
    ("change", "current"),
    [({"state": TIS.FAILED}, "failed"), ({"try_number": 2}, "running")],  # marked; run again
)
def test_an_instance_changed_while_the_batch_waited_for_the_lock_is_refused(
    env: Env, change: dict, current: str
) -> None:
    """PostgreSQL reads a batch's task instances in the statement that waits for the run's
    lock, so what the lock's holder changed meanwhile is not in what it read: the move itself
    re-checks, and only the end whose instance is still running applies."""
    if env.url.startswith("sqlite"):
        pytest.skip("SQLite: the lock is taken before anything is read (one writer at a time)")
    env.install(make_dag("raced", [task("a"), task("b")]))
    run = env.trigger("raced")
    a, b = env.ti(run, "a"), env.ti(run, "b")
    env.start(a.id)
    env.start(b.id)
    results: list = []
    with env.sessions() as holder:
        holder.execute(
            update(DagRun).where(DagRun.id == run.id).values(last_scheduling_decision=T0)
        )
        holder.execute(update(TaskInstance).where(TaskInstance.id == b.id).values(**change))
        ender = threading.Thread(
            target=lambda: results.extend(
                _finish_all(
                    env,
                    [TaskEnd(a.id, succeed()), TaskEnd(b.id, succeed())],
                    run_key=(run.dag_id, run.run_id),
                )
            )
        )
        ender.start()
        time.sleep(0.5)  # the batch's statement waits for the run's lock
        assert ender.is_alive()
        holder.commit()
    ender.join(30)
    assert results[0] is TIS.SUCCESS
    assert isinstance(results[1], StateConflict)
    assert results[1].current == current
    assert env.states(run)["a"] is TIS.SUCCESS
    assert env.states(run)["b"].value == current
    assert (_history_rows(env, a.id), _history_rows(env, b.id)) == (1, 0)


def test_a_repeat_that_waited_for_the_lock_behind_its_first_send_answers_as_it(env: Env) -> None:
    """A retried report reaching another API process while the first is still being applied
    read the instance as running; once the first has committed it answers as a repeat."""
    if env.url.startswith("sqlite"):
        pytest.skip("SQLite: the lock is taken before anything is read (one writer at a time)")
    env.install(make_dag("retried", [task("a")]))
    run = env.trigger("retried")
    a = env.ti(run, "a")
    env.start(a.id)
    report = TaskEnd(a.id, succeed(), try_number=1)
    key = (run.dag_id, run.run_id)
    results: list = []
    with env.sessions() as first:
        assert finish_tasks(first, [report], env.cache, T0, run_key=key) == [TIS.SUCCESS]
        repeat = threading.Thread(
            target=lambda: results.extend(_finish_all(env, [report], run_key=key))
        )
        repeat.start()
        time.sleep(0.5)  # the repeat waits for the run's lock
        assert repeat.is_alive()
        first.commit()
    repeat.join(30)
    assert results == [TIS.SUCCESS]
    assert _history_rows(env, a.id) == 1
