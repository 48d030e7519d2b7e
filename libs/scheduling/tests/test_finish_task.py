"""``finish_task``: every outcome, retries and their delays, reschedules, deferral, history rows,
task callbacks, fail_fast, and repeated / late / out-of-order reports (no state moves twice)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from airlock.db import CallbackRequest, TaskInstanceHistory
from airlock.models.dag import SensorSpec
from airlock.models.execution import TaskDeferred, TaskRescheduled, TaskSkipped
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import StateConflict, TaskInstanceNotFound, retry_delay_s

from .conftest import T0, Env, fail, make_dag, succeed, task

S = dt.timedelta(seconds=1)


@pytest.mark.parametrize(
    ("fields", "try_number", "expected"),
    [
        ({"retry_delay": 300.0}, 1, 300.0),
        ({"retry_delay": 300.0}, 3, 300.0),
        ({"retry_delay": 10.0, "retry_exponential_backoff": True}, 1, 10.0),
        ({"retry_delay": 10.0, "retry_exponential_backoff": True}, 4, 80.0),
        (
            {"retry_delay": 10.0, "retry_exponential_backoff": True, "max_retry_delay": 30.0},
            4,
            30.0,
        ),
        ({"retry_delay": 10.0, "retry_exponential_backoff": True}, 200, 86400.0),
        ({"retry_delay": 100.0, "max_retry_delay": 30.0}, 1, 30.0),
    ],
)
def test_retry_delay(fields: dict[str, object], try_number: int, expected: float) -> None:
    assert retry_delay_s(task("t", **fields), try_number) == expected


def test_a_failure_is_retried_after_its_delay_then_fails_for_good(env: Env) -> None:
    env.install(
        make_dag(
            "flaky",
            [
                task("t", retries=2, retry_delay=60.0, retry_exponential_backoff=True),
                task("after", ["t"]),
            ],
        )
    )
    run = env.trigger("flaky")
    ti = env.ti(run, "t")
    env.start(ti.id)
    assert env.finish(ti.id, fail(error="boom")) is TIS.UP_FOR_RETRY
    assert env.ti(run, "t").next_retry_at == T0 + 60 * S
    env.schedule(run, now=T0 + 59 * S)
    assert env.states(run)["t"] is TIS.UP_FOR_RETRY
    env.schedule(run, now=T0 + 60 * S)
    assert env.states(run)["t"] is TIS.QUEUED
    later = T0 + 61 * S
    env.start(ti.id, later)
    assert env.ti(run, "t").try_number == 2
    assert env.finish(ti.id, fail(later)) is TIS.UP_FOR_RETRY
    assert env.ti(run, "t").next_retry_at == later + 120 * S  # backoff: 60 * 2
    env.schedule(run, now=later + 120 * S)
    env.start(ti.id, later + 121 * S)
    assert env.finish(ti.id, fail(later + 122 * S)) is TIS.FAILED
    assert env.states(run) == {"t": TIS.FAILED, "after": TIS.UPSTREAM_FAILED}
    # Why, where a person looks (the end's own scheduling decided it).
    assert env.ti(run, "after").state_reason == (
        "upstream failed by the scheduler: upstream t (failed); trigger rule all_success"
    )
    assert env.run_state(run) is DagRunState.FAILED
    with env.sessions() as session:
        history = session.execute(
            select(TaskInstanceHistory.try_number, TaskInstanceHistory.state)
            .where(TaskInstanceHistory.task_instance_id == ti.id)
            .order_by(TaskInstanceHistory.try_number)
        ).all()
    assert [tuple(h) for h in history] == [
        (1, TIS.UP_FOR_RETRY),
        (2, TIS.UP_FOR_RETRY),
        (3, TIS.FAILED),
    ]


def test_a_retry_policys_delay_replaces_the_tasks_own_and_a_repeat_answers_the_same(
    sqlite_env: Env,
) -> None:
    env = sqlite_env
    env.install(make_dag("policy", [task("t", retries=2, retry_delay=60.0)]))
    run = env.trigger("policy")
    ti = env.ti(run, "t")
    env.start(ti.id)
    outcome = fail(error="429 (rate limited)", retry_delay_s=5.0)
    assert env.finish(ti.id, outcome) is TIS.UP_FOR_RETRY
    assert env.ti(run, "t").next_retry_at == T0 + 5 * S
    assert env.finish(ti.id, outcome) is TIS.UP_FOR_RETRY  # a resent report
    env.schedule(run, now=T0 + 5 * S)
    assert env.states(run)["t"] is TIS.QUEUED


def test_a_custom_strategys_weight_of_each_try_applies_to_that_try(env: Env) -> None:
    env.install(
        make_dag(
            "weighted",
            [
                task(
                    "t",
                    retries=3,
                    retry_delay=0.0,
                    weight_rule="absolute",
                    priority_weight_total=9,
                    priority_weight_by_try=[9, 5, 2],
                    weight_strategy="dags.DecreasingPriority",
                )
            ],
        )
    )
    run = env.trigger("weighted")
    ti = env.ti(run, "t")
    assert ti.priority_weight == 9
    seen = []
    for attempt in range(3):
        env.start(ti.id, T0 + attempt * S)
        assert env.finish(ti.id, fail(T0 + attempt * S)) is TIS.UP_FOR_RETRY
        seen.append(env.ti(run, "t").priority_weight)
        env.schedule(run, now=T0 + (attempt + 1) * S)
    assert seen == [5, 2, 2]  # past the list, the last weight stays


def test_no_retry_fails_at_once(sqlite_env: Env) -> None:
    sqlite_env.install(make_dag("final", [task("t", retries=5)]))
    run = sqlite_env.trigger("final")
    ti = sqlite_env.ti(run, "t")
    sqlite_env.start(ti.id)
    assert sqlite_env.finish(ti.id, fail(no_retry=True)) is TIS.FAILED


def test_a_skip_report(sqlite_env: Env) -> None:
    sqlite_env.install(make_dag("sk", [task("t")]))
    run = sqlite_env.trigger("sk")
    ti = sqlite_env.ti(run, "t")
    sqlite_env.start(ti.id)
    assert sqlite_env.finish(ti.id, TaskSkipped(end_date=T0)) is TIS.SKIPPED
    assert sqlite_env.run_state(run) is DagRunState.SUCCESS


def test_a_reschedule_keeps_the_try_until_the_sensor_times_out(env: Env) -> None:
    sensor = SensorSpec(mode="reschedule", poke_interval=30.0, timeout=100.0)
    env.install(make_dag("sense", [task("wait", sensor=sensor, retries=1)]))
    run = env.trigger("sense")
    ti = env.ti(run, "wait")
    env.start(ti.id, T0)
    poke = TaskRescheduled(reschedule_date=T0 + 30 * S, end_date=T0 + S)
    assert env.finish(ti.id, poke, T0 + S) is TIS.UP_FOR_RESCHEDULE
    stored = env.ti(run, "wait")
    assert (stored.first_poke_at, stored.next_retry_at, stored.try_number) == (T0, T0 + 30 * S, 1)
    env.schedule(run, now=T0 + 29 * S)
    assert env.states(run)["wait"] is TIS.UP_FOR_RESCHEDULE
    env.schedule(run, now=T0 + 30 * S)
    env.start(ti.id, T0 + 31 * S)
    assert env.ti(run, "wait").try_number == 1  # a poke is not a new try
    late = TaskRescheduled(reschedule_date=T0 + 200 * S, end_date=T0 + 101 * S)
    # past the timeout the sensor fails for good, retries or not (Airflow's sensor timeout)
    assert env.finish(ti.id, late, T0 + 101 * S) is TIS.FAILED
    assert env.ti(run, "wait").first_poke_at is None


def test_deferral_stores_how_to_resume(sqlite_env: Env) -> None:
    sqlite_env.install(make_dag("def", [task("t")]))
    run = sqlite_env.trigger("def")
    ti = sqlite_env.ti(run, "t")
    sqlite_env.start(ti.id)
    deferred = TaskDeferred(trigger_classpath="x.T", next_method="resume", next_kwargs={"n": 1})
    assert sqlite_env.finish(ti.id, deferred) is TIS.DEFERRED
    stored = sqlite_env.ti(run, "t")
    assert (stored.next_method, stored.next_kwargs, stored.try_number) == ("resume", {"n": 1}, 1)
    assert sqlite_env.finish(ti.id, deferred) is TIS.DEFERRED  # repeated: same answer
    assert sqlite_env.run_state(run) is DagRunState.RUNNING


def test_task_callbacks_become_rows(env: Env) -> None:
    env.install(
        make_dag(
            "cbs",
            [
                task("ok", has_on_success_callback=True),
                task("flaky", retries=1, has_on_retry_callback=True, has_on_failure_callback=True),
            ],
        )
    )
    run = env.trigger("cbs")
    env.work(run, lambda ti: fail(error="nope") if ti.task_id == "flaky" else succeed())
    env.schedule(run, now=T0 + 301 * S)
    env.work(run, lambda ti: fail(T0 + 303 * S, error="still nope"), now=T0 + 302 * S)
    with env.sessions() as session:
        rows = session.execute(
            select(
                CallbackRequest.kind,
                CallbackRequest.task_id,
                CallbackRequest.try_number,
                CallbackRequest.payload,
                CallbackRequest.bundle_name,
                CallbackRequest.dag_id,
                CallbackRequest.run_id,
            ).order_by(CallbackRequest.id)
        ).all()
    assert sorted((k, t, n) for k, t, n, *_ in rows) == [
        ("task_failure", "flaky", 2),
        ("task_retry", "flaky", 1),
        ("task_success", "ok", 1),
    ]
    assert rows[-1].payload == {"state": "failed", "error": "still nope"}
    assert {r.bundle_name for r in rows} == {"local"}
    assert {(r.dag_id, r.run_id) for r in rows} == {("cbs", run.run_id)}


def test_a_repeated_report_answers_the_same_and_moves_nothing(env: Env) -> None:
    env.install(make_dag("dup", [task("a", retries=1, retry_delay=0.0), task("b", ["a"])]))
    run = env.trigger("dup")
    ti = env.ti(run, "a")
    env.start(ti.id)
    first_failure = fail(T0 + S)
    assert env.finish(ti.id, first_failure, T0 + S) is TIS.UP_FOR_RETRY
    # with no delay the retry is queued, then started: try 2 runs
    assert env.states(run)["a"] is TIS.QUEUED
    env.start(ti.id, T0 + 2 * S)
    # the late copy of try 1's failure must not fail try 2
    assert env.finish(ti.id, first_failure) is TIS.UP_FOR_RETRY
    assert env.states(run)["a"] is TIS.RUNNING
    success = succeed(T0 + 3 * S)
    assert env.finish(ti.id, success) is TIS.SUCCESS
    for _ in range(3):
        assert env.finish(ti.id, success) is TIS.SUCCESS
    b = env.ti(run, "b")
    assert b.state is TIS.QUEUED
    with env.sessions() as session:
        history = session.scalars(
            select(TaskInstanceHistory.state).where(TaskInstanceHistory.task_instance_id == ti.id)
        ).all()
    assert sorted(history) == sorted([TIS.UP_FOR_RETRY, TIS.SUCCESS])


def test_a_different_report_after_the_end_is_a_conflict(sqlite_env: Env) -> None:
    sqlite_env.install(make_dag("ooo", [task("a")]))
    run = sqlite_env.trigger("ooo")
    ti = sqlite_env.ti(run, "a")
    with pytest.raises(StateConflict, match="queued, not running") as queued:
        sqlite_env.finish(ti.id, succeed())  # not started yet
    assert queued.value.current == "queued"
    sqlite_env.start(ti.id)
    sqlite_env.finish(ti.id, succeed(T0 + S))
    with pytest.raises(StateConflict, match="success") as done:
        sqlite_env.finish(ti.id, fail(T0 + 2 * S))
    assert done.value.current == "success"
    assert sqlite_env.states(run)["a"] is TIS.SUCCESS
    with pytest.raises(TaskInstanceNotFound):
        sqlite_env.finish("no-such-id", succeed())


def test_fail_fast_stops_the_rest_of_the_run(sqlite_env: Env) -> None:
    env = sqlite_env
    env.install(
        make_dag(
            "ff",
            [
                task("a"),
                task("b"),
                task("c", ["b"]),
                task("cleanup", ["a", "b"], is_teardown=True, trigger_rule="all_done"),
            ],
            fail_fast=True,
        )
    )
    run = env.trigger("ff")
    a, b = env.ti(run, "a"), env.ti(run, "b")
    env.start(a.id)
    env.start(b.id)
    env.finish(a.id, fail())
    states = env.states(run)
    assert (states["a"], states["b"], states["c"]) == (TIS.FAILED, TIS.FAILED, TIS.SKIPPED)
    assert states["cleanup"] is TIS.QUEUED  # teardowns still run
