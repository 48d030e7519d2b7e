"""Zombies (stopped heartbeats), expired claims and execution timeouts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from airlock.db import TaskInstance
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
