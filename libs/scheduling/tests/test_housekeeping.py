"""Zombies (stopped heartbeats), expired claims and execution timeouts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from airlock.db import LogChunk, TaskInstance, TaskInstanceHistory
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import expire_claims, fail_timed_out, fail_zombies

from .conftest import T0, Env, make_dag, task

S = dt.timedelta(seconds=1)


def test_a_silent_running_task_is_retried_then_failed(env: Env) -> None:
    env.install(make_dag("z", [task("t", retries=1, retry_delay=0.0), task("u")]))
    run = env.trigger("z")
    t, u = env.ti(run, "t"), env.ti(run, "u")
    env.start(t.id, T0)
    env.start(u.id, T0)
    with env.sessions() as session:  # u keeps heartbeating
        session.execute(
            update(TaskInstance)
            .where(TaskInstance.id == u.id)
            .values(last_heartbeat_at=T0 + 50 * S)
        )
        session.commit()
    with env.sessions() as session:
        assert fail_zombies(session, T0 + 30 * S, 60.0, env.cache) == []
        assert fail_zombies(session, T0 + 61 * S, 60.0, env.cache) == [t.id]
        session.commit()
    assert env.states(run) == {"t": TIS.QUEUED, "u": TIS.RUNNING}  # retried at once (no delay)
    env.start(t.id, T0 + 62 * S)
    with env.sessions() as session:
        assert set(fail_zombies(session, T0 + 200 * S, 60.0, env.cache)) == {t.id, u.id}
        session.commit()
    assert env.states(run) == {"t": TIS.FAILED, "u": TIS.FAILED}
    assert env.run_state(run) is DagRunState.FAILED


def test_expired_claims_are_released(sqlite_env: Env) -> None:
    env = sqlite_env
    env.install(make_dag("c", [task("a"), task("b")]))
    run = env.trigger("c")
    a, b = env.ti(run, "a"), env.ti(run, "b")
    with env.sessions() as session:
        session.execute(
            update(TaskInstance)
            .where(TaskInstance.id == a.id)
            .values(claimed_by="w1", claimed_at=T0)
        )
        session.execute(
            update(TaskInstance)
            .where(TaskInstance.id == b.id)
            .values(claimed_by="w2", claimed_at=T0 + 50 * S)
        )
        session.commit()
    with env.sessions() as session:
        assert expire_claims(session, T0 + 61 * S, 60.0) == 1
        session.commit()
    assert (env.ti(run, "a").claimed_by, env.ti(run, "b").claimed_by) == (None, "w2")


def test_a_task_past_its_execution_timeout_fails(sqlite_env: Env) -> None:
    env = sqlite_env
    env.install(make_dag("to", [task("slow", execution_timeout=10.0), task("free")]))
    run = env.trigger("to")
    slow, free = env.ti(run, "slow"), env.ti(run, "free")
    env.start(slow.id, T0)
    env.start(free.id, T0)
    with env.sessions() as session:
        assert fail_timed_out(session, T0 + 30 * S, env.cache, grace_s=30.0) == []
        assert fail_timed_out(session, T0 + 41 * S, env.cache, grace_s=30.0) == [slow.id]
        session.commit()
    assert env.states(run) == {"slow": TIS.FAILED, "free": TIS.RUNNING}


def test_a_failure_of_the_control_plane_says_why_on_the_task_its_try_and_its_log(
    env: Env,
) -> None:
    env.install(make_dag("why", [task("t", retries=1, retry_delay=0.0)]))
    run = env.trigger("why")
    t = env.ti(run, "t")
    env.start(t.id, T0)
    with env.sessions() as session:
        assert fail_zombies(session, T0 + 61 * S, 60.0, env.cache) == [t.id]
        session.commit()
    ti = env.ti_by_id(t.id)
    assert ti.state is TIS.QUEUED
    expected = (
        "no heartbeat for 60s: the worker running it is gone; the scheduler set it up_for_retry"
    )
    assert ti.state_reason == expected
    with env.sessions() as session:
        history = session.scalars(
            select(TaskInstanceHistory.state_reason).where(
                TaskInstanceHistory.task_instance_id == t.id
            )
        ).all()
        log = session.scalars(
            select(LogChunk.lines).where(
                LogChunk.task_instance_id == t.id, LogChunk.try_number == 1
            )
        ).all()
    assert history == [expected]
    assert log == [f"{(T0 + 61 * S).isoformat(timespec='seconds')} [airlock] {expected}"]
    env.start(t.id, T0 + 62 * S)  # the next try starts without a reason
    assert env.ti_by_id(t.id).state_reason is None
