"""Triggers of deferred tasks: stored on deferral, leased with fencing epochs, fired once,
cancelled when the task stops waiting, timed out by the scheduler — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from airlock.db import DagRun, Trigger
from airlock.models.execution import TaskDeferred
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import clear_task_instances, queue_scheduled
from airlock.scheduling.leases import Held
from airlock.scheduling.triggers import (
    FAIL,
    LeasedRow,
    TriggerConflict,
    TriggerNotFound,
    fire_trigger,
    forget_fired,
    heartbeat_triggers,
    lease_triggers,
    release_triggers,
    time_out_triggers,
)
from tests.support.dags import make_dag, task

from .conftest import T0, Env

S = dt.timedelta(seconds=1)
LEASE_S = 10.0


def _defer(env: Env, count: int = 1, *, timeout_s: float | None = None) -> tuple[DagRun, list[str]]:
    env.install(make_dag("wait", [task(f"t{i}") for i in range(count)]), bundle="b1")
    run = env.trigger("wait")
    ids = []
    for i in range(count):
        ti = env.ti(run, f"t{i}")
        env.start(ti.id)
        outcome = TaskDeferred(
            trigger_classpath="pkg.Waiter",
            trigger_kwargs={"n": i},
            next_method="done",
            next_kwargs={"keep": i},
            timeout_s=timeout_s,
        )
        assert env.finish(ti.id, outcome) is TIS.DEFERRED
        ids.append(ti.id)
    return run, ids


def _lease(
    env: Env, holder: str, limit: int, now: dt.datetime = T0, bundles: list[str] | None = None
) -> list[LeasedRow]:
    with env.engine.begin() as connection:
        return lease_triggers(connection, holder, limit, now, LEASE_S, bundles=bundles)


def _fire(env: Env, trigger_id: int, holder: str, epoch: int, now: dt.datetime = T0) -> str:
    with env.engine.begin() as connection:
        return fire_trigger(connection, trigger_id, holder, epoch, None, {"event": "go"}, now)[0]


def test_a_deferral_frees_the_slot_and_stores_its_trigger(env: Env) -> None:
    run, (ti_id,) = _defer(env)
    assert env.states(run) == {"t0": TIS.DEFERRED}
    (leased,) = _lease(env, "a", 10)
    assert (leased.classpath, leased.kwargs, leased.bundle, leased.ti_id) == (
        "pkg.Waiter",
        {"n": 0},
        "b1",
        ti_id,
    )
    assert leased.epoch == 1
    assert _lease(env, "b", 10) == []  # held: no one else gets it


def test_an_event_resumes_the_task_once_with_its_kwargs(env: Env) -> None:
    _run, (ti_id,) = _defer(env)
    (leased,) = _lease(env, "a", 10)
    assert _fire(env, leased.id, "a", leased.epoch) == ti_id
    ti = env.ti_by_id(ti_id)
    assert (ti.state, ti.next_method, ti.next_kwargs) == (
        TIS.SCHEDULED,
        "done",
        {"keep": 0, "event": "go"},
    )
    assert _fire(env, leased.id, "a", leased.epoch) == ti_id  # the same call again: same answer
    with env.sessions() as session:
        assert queue_scheduled(session, env.cache, T0) == [ti_id]
        session.commit()
    env.start(ti_id)
    assert env.ti_by_id(ti_id).try_number == 1  # the resume continues the try


def test_a_stale_holder_is_fenced_off_after_the_lease_moved(env: Env) -> None:
    _, (ti_id,) = _defer(env)
    (first,) = _lease(env, "a", 10)
    # "a" goes quiet past its lease; "b" takes the trigger over under a new epoch
    (second,) = _lease(env, "b", 10, now=T0 + 11 * S)
    assert second.epoch == first.epoch + 1
    with pytest.raises(TriggerConflict, match="no longer leased"):
        _fire(env, first.id, "a", first.epoch, now=T0 + 12 * S)
    with env.engine.begin() as connection:
        lost, cancelled = heartbeat_triggers(
            connection, "a", [Held(first.id, first.epoch)], T0 + 12 * S, LEASE_S
        )
    assert (lost, cancelled) == ([first.id], [])  # moved: drop it, no cleanup
    assert env.ti_by_id(ti_id).state is TIS.DEFERRED
    _fire(env, second.id, "b", second.epoch, now=T0 + 13 * S)
    assert env.ti_by_id(ti_id).state is TIS.SCHEDULED


def test_many_copies_firing_at_once_resume_the_task_once(env: Env) -> None:
    _, ids = _defer(env, 20)
    leased = _lease(env, "a", 100)
    stale = {t.id: t.epoch for t in leased}
    taken = _lease(env, "b", 100, now=T0 + 11 * S)
    assert len(taken) == 20

    def fire(holder: str, trigger_id: int, epoch: int) -> bool:
        try:
            _fire(env, trigger_id, holder, epoch, now=T0 + 12 * S)
            return True
        except TriggerConflict:
            return False

    with ThreadPoolExecutor(8) as pool:
        old = list(pool.map(lambda t: fire("a", t, stale[t]), stale))
        new = list(pool.map(lambda t: fire("b", t.id, t.epoch), taken))
    assert not any(old)
    assert all(new)
    with env.engine.begin() as connection:  # fired by "b": "a" lost them, no cleanup of its own
        stale_held = [Held(t, e) for t, e in stale.items()]
        lost, cancelled = heartbeat_triggers(connection, "a", stale_held, T0 + 13 * S, LEASE_S)
    assert (sorted(lost), cancelled) == (sorted(stale), [])
    with env.sessions() as session:
        fired = session.scalars(select(Trigger.fired_at)).all()
    assert len(fired) == 20
    assert all(fired)
    assert {env.ti_by_id(i).state for i in ids} == {TIS.SCHEDULED}


def test_heartbeats_renew_and_a_cleared_task_cancels_its_trigger(env: Env) -> None:
    run, (ti_id,) = _defer(env)
    (leased,) = _lease(env, "a", 10)
    held = [Held(leased.id, leased.epoch)]
    with env.engine.begin() as connection:
        assert heartbeat_triggers(connection, "a", held, T0 + 8 * S, LEASE_S) == ([], [])
    assert _lease(env, "b", 10, now=T0 + 15 * S) == []  # renewed at 8 s: held until 18 s
    with env.sessions() as session:
        clear_task_instances(session, run.dag_id, run.run_id, env.cache, T0 + 16 * S)
        session.commit()
    with env.engine.begin() as connection:
        assert heartbeat_triggers(connection, "a", held, T0 + 17 * S, LEASE_S) == ([], [leased.id])
    with env.sessions() as session:
        assert session.scalars(select(Trigger.id)).all() == []
    with env.engine.begin() as connection:  # gone: whoever ended it cleaned up
        assert heartbeat_triggers(connection, "a", held, T0 + 18 * S, LEASE_S) == ([leased.id], [])
    with pytest.raises(TriggerNotFound):
        _fire(env, leased.id, "a", leased.epoch)
    assert env.ti_by_id(ti_id).state is not TIS.SCHEDULED


def test_leases_are_scoped_to_bundles_and_given_back(env: Env) -> None:
    _defer(env, 3)
    assert _lease(env, "a", 10, bundles=["other"]) == []
    leased = _lease(env, "a", 2, bundles=["b1"])
    assert len(leased) == 2
    with env.engine.begin() as connection:
        assert release_triggers(connection, "a", [Held(t.id, t.epoch) for t in leased]) == 2
    assert len(_lease(env, "b", 10)) == 3  # given back: taken at once, before any expiry


def test_a_trigger_past_its_timeout_resumes_its_task_to_fail(env: Env) -> None:
    _, (ti_id,) = _defer(env, timeout_s=30)
    with env.sessions() as session:
        assert time_out_triggers(session, T0 + 29 * S) == []
        assert time_out_triggers(session, T0 + 31 * S) == [ti_id]
        session.commit()
    ti = env.ti_by_id(ti_id)
    assert (ti.state, ti.next_method) == (TIS.SCHEDULED, FAIL)
    assert "timed out" in ti.next_kwargs["error"]
    assert _lease(env, "a", 10, now=T0 + 32 * S) == []  # fired: no longer leased out
    with env.sessions() as session:
        assert forget_fired(session, T0 + 32 * S) == 1
        session.commit()


def test_deferring_again_replaces_the_trigger(env: Env) -> None:
    _, (ti_id,) = _defer(env)
    (leased,) = _lease(env, "a", 10)
    _fire(env, leased.id, "a", leased.epoch)
    with env.sessions() as session:
        queue_scheduled(session, env.cache, T0)
        session.commit()
    env.start(ti_id)
    assert env.finish(ti_id, TaskDeferred(trigger_classpath="pkg.Second")) is TIS.DEFERRED
    with env.sessions() as session:
        rows = session.execute(select(Trigger.classpath, Trigger.fired_at)).all()
    assert rows == [("pkg.Second", None)]
