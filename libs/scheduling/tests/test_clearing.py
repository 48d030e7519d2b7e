"""Clearing and marking by hand: which task instances move, what they keep, and how the run
reacts on the next scheduling pass (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from airlock.db import DagRun, TaskInstance, TaskInstanceHistory
from airlock.models.execution import TaskOutcome
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import (
    DagRunNotFound,
    RunChange,
    TaskNotInDag,
    clear_task_instances,
    mark_run,
    mark_task_instances,
    schedule_run,
)

from .conftest import T0, Env, fail, make_dag, succeed, task

LATER = T0 + dt.timedelta(minutes=5)


def chain(env: Env, retries: int = 0) -> DagRun:
    """extract → transform → load, run to the end with transform failing."""
    env.install(
        make_dag(
            "etl",
            [
                task("extract"),
                task("transform", ["extract"], retries=retries, retry_delay=0.0),
                task("load", ["transform"]),
            ],
        )
    )
    run = env.trigger("etl")
    ends = iter(range(1, 100))

    def outcome(ti: TaskInstance) -> TaskOutcome:
        # Each try ends at another time: the same end date would be a repeated report.
        end = T0 + dt.timedelta(seconds=next(ends))
        return fail(end) if ti.task_id == "transform" else succeed(end)

    for _ in range(retries + 1):
        env.work(run, outcome)
        env.schedule(run, T0 + dt.timedelta(minutes=1))  # the retry is due
    return run


def clear(env: Env, run: DagRun, **options: Any) -> RunChange:
    with env.sessions() as session:
        change = clear_task_instances(session, run.dag_id, run.run_id, env.cache, LATER, **options)
        schedule_run(session, change.run, env.cache, LATER)
        session.commit()
        return change


def test_clearing_a_failed_task_and_downstream_runs_them_again(env: Env) -> None:
    run = chain(env, retries=1)
    assert env.run_state(run) is DagRunState.FAILED
    assert env.states(run) == {
        "extract": TIS.SUCCESS,
        "transform": TIS.FAILED,
        "load": TIS.UPSTREAM_FAILED,
    }
    before = env.ti(run, "transform")
    assert before.try_number == 2

    change = clear(env, run, task_ids=["transform"], downstream=True)

    assert sorted(t.task_id for t in change.task_instances) == ["load", "transform"]
    # The run is queued again and the pass started it and queued the cleared task.
    assert env.run_state(run) is DagRunState.RUNNING
    assert env.states(run) == {"extract": TIS.SUCCESS, "transform": TIS.QUEUED, "load": None}
    after = env.ti(run, "transform")
    assert (after.try_number, after.max_tries) == (2, 3)  # full retries again
    assert after.end_date is None
    with env.sessions() as session:
        tries = session.scalar(
            select(func.count()).where(TaskInstanceHistory.task_instance_id == after.id)
        )
    assert tries == 2  # past tries stay in the history
    assert env.work(run) is DagRunState.SUCCESS


def test_upstream_option_and_only_failed(env: Env) -> None:
    run = chain(env)
    with env.sessions() as session:
        dry = clear_task_instances(
            session,
            "etl",
            run.run_id,
            env.cache,
            LATER,
            task_ids=["load"],
            upstream=True,
            dry_run=True,
        )
        assert sorted(t.task_id for t in dry.task_instances) == ["extract", "load", "transform"]
        failed_only = clear_task_instances(
            session,
            "etl",
            run.run_id,
            env.cache,
            LATER,
            task_ids=["load"],
            upstream=True,
            only_failed=True,
            dry_run=True,
        )
        assert sorted(t.task_id for t in failed_only.task_instances) == ["load", "transform"]
        session.rollback()
    assert env.run_state(run) is DagRunState.FAILED  # a dry run changes nothing


def test_unknown_task_and_run_are_refused(env: Env) -> None:
    run = chain(env)
    with env.sessions() as session:
        with pytest.raises(TaskNotInDag, match="'nope'"):
            clear_task_instances(session, "etl", run.run_id, env.cache, LATER, task_ids=["nope"])
        session.rollback()
        with pytest.raises(DagRunNotFound):
            clear_task_instances(session, "etl", "no-such-run", env.cache, LATER)


def test_clearing_a_running_task_stops_its_runner(env: Env) -> None:
    env.install(make_dag("one", [task("only")]))
    run = env.trigger("one")
    ti = env.queued(run)[0]
    env.start(ti.id)
    clear(env, run, task_ids=["only"])
    assert env.states(run) == {"only": TIS.QUEUED}
    assert env.run_state(run) is DagRunState.RUNNING


def test_marking_a_failed_task_success_lets_the_run_go_on(env: Env) -> None:
    run = chain(env)
    with env.sessions() as session:
        change = mark_task_instances(
            session, "etl", run.run_id, "success", env.cache, LATER, task_ids=["transform"]
        )
        assert [t.state for t in change.task_instances] == [TIS.FAILED]
        session.commit()
    # Reopened: the downstream upstream_failed task stays as it was, the run ends again.
    assert env.run_state(run) is DagRunState.RUNNING
    env.schedule(run, LATER)
    assert env.run_state(run) is DagRunState.FAILED
    with env.sessions() as session:
        mark_task_instances(
            session, "etl", run.run_id, TIS.SUCCESS, env.cache, LATER, task_ids=["load"]
        )
        session.commit()
    env.schedule(run, LATER)
    assert env.run_state(run) is DagRunState.SUCCESS


def test_mark_with_downstream_and_bad_state(env: Env) -> None:
    env.install(make_dag("abc", [task("a"), task("b", ["a"]), task("c", ["b"])]))
    run = env.trigger("abc")
    with env.sessions() as session:
        change = mark_task_instances(
            session,
            "abc",
            run.run_id,
            "skipped",
            env.cache,
            LATER,
            task_ids=["b"],
            downstream=True,
        )
        session.commit()
    assert sorted(t.task_id for t in change.task_instances) == ["b", "c"]
    assert env.states(run) == {"a": TIS.QUEUED, "b": TIS.SKIPPED, "c": TIS.SKIPPED}
    with env.sessions() as session, pytest.raises(ValueError, match="success, failed, skipped"):
        mark_task_instances(session, "abc", run.run_id, "running", env.cache, LATER, task_ids=["a"])


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (DagRunState.SUCCESS, {"a": TIS.SUCCESS, "b": TIS.SUCCESS, "c": TIS.SUCCESS}),
        (DagRunState.FAILED, {"a": TIS.FAILED, "b": TIS.SKIPPED, "c": TIS.SKIPPED}),
    ],
)
def test_mark_run(env: Env, state: DagRunState, expected: dict[str, TIS]) -> None:
    env.install(make_dag("abc", [task("a"), task("b", ["a"]), task("c", ["b"])]))
    run = env.trigger("abc")
    env.start(env.queued(run)[0].id)  # a is running
    with env.sessions() as session:
        change = mark_run(session, "abc", run.run_id, state, LATER)
        session.commit()
    assert change.run_state is state
    assert env.states(run) == expected
    assert env.run_state(run) is state
    # Nothing left for the scheduler to do.
    assert env.schedule(run, LATER).changed == 0


def test_clearing_discards_the_cleared_instances_task_state_only(env: Env) -> None:
    from airlock.db import TaskState

    run = chain(env)
    with env.sessions() as session:
        for task_id in ("transform", "extract"):
            session.add(
                TaskState(
                    dag_id="etl",
                    run_id=run.run_id,
                    task_id=task_id,
                    map_index=-1,
                    key="job_id",
                    value='"j-1"',
                    updated_at=T0,
                )
            )
        session.commit()
    clear(env, run, task_ids=["transform"])
    with env.sessions() as session:
        left = session.scalars(select(TaskState.task_id)).all()
    assert left == ["extract"]
