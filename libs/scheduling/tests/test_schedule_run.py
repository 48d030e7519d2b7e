"""``create_dag_run`` and ``schedule_run``: starting runs, task instances, empty tasks, run end
states and their callbacks."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from airlock.db import CallbackRequest, DagRun, TaskInstance
from airlock.models.dag import TriggerRule as TR
from airlock.models.states import DagRunState, DagRunType
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import (
    DagNotFound,
    DagRunExists,
    DagStale,
    add_queue_listener,
    create_dag_run,
    instance_marks,
    needs_scheduling,
    remove_queue_listener,
    schedule_run,
)

from .conftest import T0, Env, fail, make_dag, succeed, task

CHAIN = make_dag("chain", [task("a"), task("b", ["a"]), task("c", ["b"])])


def test_a_triggered_run_starts_and_queues_its_first_task(sqlite_env: Env) -> None:
    sqlite_env.install(CHAIN)
    run = sqlite_env.trigger("chain", conf={"x": 1})
    assert sqlite_env.run_state(run) is DagRunState.RUNNING
    assert sqlite_env.states(run) == {"a": TIS.QUEUED, "b": None, "c": None}
    assert run.run_id == f"manual__{T0.isoformat()}"
    with sqlite_env.sessions() as session:
        stored = session.get_one(DagRun, run.id)
        assert stored.conf == {"x": 1}
        assert stored.start_date == T0
        assert stored.logical_date is None


def test_a_chain_runs_to_success_one_task_at_a_time(env: Env) -> None:
    env.install(CHAIN)
    run = env.trigger("chain")
    for expected in ("a", "b", "c"):
        queued = env.queued(run)
        assert [ti.task_id for ti in queued] == [expected]
        env.start(queued[0].id)
        assert env.finish(queued[0].id, succeed()) is TIS.SUCCESS
    assert env.run_state(run) is DagRunState.SUCCESS
    with env.sessions() as session:
        assert session.get_one(DagRun, run.id).end_date == T0


def test_the_queue_listener_hears_of_queued_tasks_after_commit_only(env: Env) -> None:
    env.install(CHAIN)
    heard: list[tuple[str, ...]] = []
    add_queue_listener(heard.append)
    try:
        with env.sessions() as session:
            run = create_dag_run(session, "chain", run_type="manual", dag_cache=env.cache, now=T0)
            result = schedule_run(session, run, env.cache, T0)
            assert heard == []
            session.rollback()
        assert heard == []
        run = env.trigger("chain")
        a = env.ti(run, "a")
        assert heard == [(a.id,)]
        env.start(a.id)
        env.finish(a.id, succeed())
        assert heard[-1] == (env.ti(run, "b").id,)
    finally:
        remove_queue_listener(heard.append)
    assert result.queued
    assert result.started


def test_create_dag_run_refusals(env: Env) -> None:
    env.install(CHAIN)
    env.trigger("chain", run_id="r1", logical_date=T0)
    with env.sessions() as session:
        with pytest.raises(DagNotFound, match="'nope' does not exist"):
            create_dag_run(session, "nope", run_type="manual", dag_cache=env.cache)
        with pytest.raises(DagRunExists, match="'r1'"):
            create_dag_run(session, "chain", run_type="manual", run_id="r1", dag_cache=env.cache)
        with pytest.raises(DagRunExists, match="logical date"):
            create_dag_run(
                session, "chain", run_type="manual", logical_date=T0, dag_cache=env.cache
            )
        with pytest.raises(ValueError, match="no timezone"):
            create_dag_run(
                session,
                "chain",
                run_type="manual",
                logical_date=dt.datetime(2025, 1, 1),
                dag_cache=env.cache,
            )
    with env.sessions() as session:
        from airlock.db import Dag

        session.get_one(Dag, "chain").is_stale = True
        session.commit()
        with pytest.raises(DagStale):
            create_dag_run(session, "chain", run_type="manual", dag_cache=env.cache)


def test_a_scheduled_run_gets_its_logical_date_and_interval(sqlite_env: Env) -> None:
    sqlite_env.install(CHAIN)
    start, end = T0 - dt.timedelta(days=1), T0
    run = sqlite_env.trigger(
        "chain", run_type=DagRunType.SCHEDULED, logical_date=start, data_interval=(start, end)
    )
    with sqlite_env.sessions() as session:
        stored = session.get_one(DagRun, run.id)
    assert stored.run_id == f"scheduled__{start.isoformat()}"
    assert (stored.data_interval_start, stored.data_interval_end, stored.run_after) == (
        start,
        end,
        end,
    )


def test_empty_tasks_complete_without_a_worker(sqlite_env: Env) -> None:
    sqlite_env.install(
        make_dag(
            "empties",
            [
                task("start", is_empty=True),
                task("work", ["start"]),
                task("end", ["work"], is_empty=True),
            ],
        )
    )
    run = sqlite_env.trigger("empties")
    assert sqlite_env.states(run) == {"start": TIS.SUCCESS, "work": TIS.QUEUED, "end": None}
    sqlite_env.work(run)
    assert sqlite_env.states(run)["end"] is TIS.SUCCESS
    assert sqlite_env.run_state(run) is DagRunState.SUCCESS


def test_an_all_empty_dag_succeeds_in_its_first_pass(sqlite_env: Env) -> None:
    sqlite_env.install(
        make_dag("noop", [task("a", is_empty=True), task("b", ["a"], is_empty=True)])
    )
    run = sqlite_env.trigger("noop")
    assert sqlite_env.run_state(run) is DagRunState.SUCCESS


def test_a_failed_leaf_fails_the_run_a_failed_inner_task_under_all_done_does_not(
    sqlite_env: Env,
) -> None:
    sqlite_env.install(
        make_dag(
            "leaves",
            [task("a"), task("b", ["a"], trigger_rule=TR.ALL_DONE), task("c")],
        )
    )
    run = sqlite_env.trigger("leaves")
    sqlite_env.work(run, lambda ti: fail() if ti.task_id == "a" else succeed())
    assert sqlite_env.run_state(run) is DagRunState.SUCCESS
    run2 = sqlite_env.trigger("leaves", run_id="second")
    sqlite_env.work(run2, lambda ti: fail() if ti.task_id == "c" else succeed())
    assert sqlite_env.run_state(run2) is DagRunState.FAILED


def test_upstream_failed_propagates_down_a_chain_in_one_pass(sqlite_env: Env) -> None:
    sqlite_env.install(CHAIN)
    run = sqlite_env.trigger("chain")
    sqlite_env.work(run, lambda ti: fail())
    assert sqlite_env.states(run) == {
        "a": TIS.FAILED,
        "b": TIS.UPSTREAM_FAILED,
        "c": TIS.UPSTREAM_FAILED,
    }
    assert sqlite_env.run_state(run) is DagRunState.FAILED


def test_dag_callbacks_are_queued_once(env: Env) -> None:
    env.install(
        make_dag("cb", [task("a")], has_on_success_callback=True, has_on_failure_callback=True)
    )
    ok = env.trigger("cb", run_id="ok")
    env.work(ok)
    bad = env.trigger("cb", run_id="bad")
    env.work(bad, lambda ti: fail())
    env.schedule(bad)  # a later pass over an ended run changes nothing
    with env.sessions() as session:
        rows = session.execute(
            select(CallbackRequest.kind, CallbackRequest.run_id, CallbackRequest.payload)
        ).all()
    assert sorted((kind, run_id) for kind, run_id, _ in rows) == [
        ("dag_failure", "bad"),
        ("dag_success", "ok"),
    ]
    assert {p["reason"] for _, _, p in rows} == {"success", "task_failure"}


def test_no_callback_rows_when_the_dag_has_none(sqlite_env: Env) -> None:
    sqlite_env.install(CHAIN)
    sqlite_env.work(sqlite_env.trigger("chain"))
    with sqlite_env.sessions() as session:
        assert session.scalars(select(CallbackRequest)).all() == []


def test_max_active_runs_keeps_later_runs_queued_in_order(env: Env) -> None:
    env.install(make_dag("one_at_a_time", [task("a")], max_active_runs=1))
    first = env.trigger("one_at_a_time", run_id="first")
    second = env.trigger("one_at_a_time", run_id="second", now=T0 + dt.timedelta(seconds=1))
    third = env.trigger("one_at_a_time", run_id="third", now=T0 + dt.timedelta(seconds=2))
    assert [env.run_state(r) for r in (first, second, third)] == [
        DagRunState.RUNNING,
        DagRunState.QUEUED,
        DagRunState.QUEUED,
    ]
    env.schedule(third)  # a later run does not jump the queue
    assert env.run_state(third) is DagRunState.QUEUED
    env.work(first)
    env.schedule(second)
    assert env.run_state(second) is DagRunState.RUNNING


def test_a_paused_dag_keeps_new_runs_queued(sqlite_env: Env) -> None:
    sqlite_env.install(CHAIN, paused=True)
    run = sqlite_env.trigger("chain")
    assert sqlite_env.run_state(run) is DagRunState.QUEUED
    assert sqlite_env.states(run) == {"a": None, "b": None, "c": None}


def test_dagrun_timeout_fails_the_run_and_skips_what_is_left(env: Env) -> None:
    env.install(make_dag("slow", [task("a"), task("b", ["a"])], dagrun_timeout=60.0))
    run = env.trigger("slow")
    env.start(env.ti(run, "a").id)
    result = env.schedule(run, now=T0 + dt.timedelta(seconds=61))
    assert result.finished
    assert env.run_state(run) is DagRunState.FAILED
    assert env.states(run) == {"a": TIS.SKIPPED, "b": TIS.SKIPPED}


def test_a_pass_over_an_unchanged_run_changes_nothing(sqlite_env: Env) -> None:
    sqlite_env.install(CHAIN)
    run = sqlite_env.trigger("chain")
    result = sqlite_env.schedule(run)
    assert result.changed == 0
    assert result.queued == ()
    assert result.run_state is DagRunState.RUNNING


def test_missing_task_instances_are_created(sqlite_env: Env) -> None:
    sqlite_env.install(CHAIN)
    run = sqlite_env.trigger("chain")
    with sqlite_env.sessions() as session:
        ti = session.scalar(select(TaskInstance).where(TaskInstance.task_id == "c"))
        session.delete(ti)
        session.commit()
    sqlite_env.schedule(run)
    assert sqlite_env.states(run)["c"] is None


def test_needs_scheduling_is_true_only_when_a_pass_would_change_something(
    sqlite_env: Env,
) -> None:
    env = sqlite_env
    env.install(make_dag("ns", [task("a", retries=1, retry_delay=10.0), task("b", ["a"])]))
    with env.sessions() as session:
        fresh = create_dag_run(session, "ns", run_type="manual", dag_cache=env.cache, now=T0)
        assert needs_scheduling(session, fresh, env.cache, T0)  # queued: it may start
        session.rollback()
    run = env.trigger("ns", now=T0)
    with env.sessions() as session:
        assert not needs_scheduling(session, session.get_one(DagRun, run.id), env.cache, T0)
    a = env.ti(run, "a")
    env.start(a.id)
    env.finish(a.id, fail())
    with env.sessions() as session:
        stored = session.get_one(DagRun, run.id)
        assert not needs_scheduling(session, stored, env.cache, T0 + dt.timedelta(seconds=5))
        assert needs_scheduling(session, stored, env.cache, T0 + dt.timedelta(seconds=10))


def test_instance_marks_move_with_every_state_change_and_spare_only_the_clock(env: Env) -> None:
    env.install(
        make_dag(
            "marks", [task("a", retries=1, retry_delay=10.0), task("b", ["a"])], dagrun_timeout=60.0
        )
    )
    run = env.trigger("marks")
    marks = []
    with env.sessions() as session:
        marks.append(instance_marks(session, [run.id])[run.id])
        assert instance_marks(session, [run.id]) == {run.id: marks[0]}  # nothing moved
        stored = session.get_one(DagRun, run.id)
        # Unchanged rows are not read: only the run's timeout can make work.
        assert not needs_scheduling(session, stored, env.cache, T0, unchanged=True)
        late = T0 + dt.timedelta(seconds=61)
        assert needs_scheduling(session, stored, env.cache, late, unchanged=True)
    a = env.ti(run, "a")
    env.start(a.id)
    with env.sessions() as session:
        marks.append(instance_marks(session, [run.id])[run.id])
    env.finish(a.id, fail())  # waits for its retry: only the clock moves it now
    with env.sessions() as session:
        assert run.id not in instance_marks(session, [run.id])
    assert marks[0] != marks[1]
