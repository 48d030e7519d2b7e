"""Handing queued task instances to workers: the claim, the start of what a worker runs at once,
and the give-back of what it will never get (on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update

from airlock.db import TaskInstance, XCom
from airlock.models.states import TaskInstanceState as TIS
from airlock.models.task_try import TaskTry
from airlock.scheduling.handout import (
    Claim,
    HandedOut,
    StartAs,
    claim_and_start,
    claim_task_instances,
    give_back,
    take_claimed,
)

from .conftest import T0, Env, make_dag, task

S = dt.timedelta(seconds=1)
LEASE_S = 60.0


def queued(env: Env, dag_id: str, count: int, **dag: Any) -> list[str]:
    """The ids of ``count`` queued task instances ``t0``… of a new run of ``dag_id``."""
    env.install(make_dag(dag_id, [task(f"t{i}") for i in range(count)], **dag))
    run = env.trigger(dag_id)
    return [env.ti(run, f"t{i}").id for i in range(count)]


def change(env: Env, ti_id: str, **values: Any) -> None:
    with env.sessions() as session:
        session.execute(update(TaskInstance).where(TaskInstance.id == ti_id).values(**values))
        session.commit()


def claim(
    env: Env,
    worker: str = "w1",
    slots: int = 10,
    now: dt.datetime = T0,
    queues: tuple[str, ...] = ("default",),
    start: StartAs | None = None,
) -> list[HandedOut]:
    with env.sessions() as session:
        claims = claim_task_instances(session, worker, queues, slots, now, LEASE_S)
        handed = take_claimed(session, claims, start, now)
        session.commit()
    return handed


def ids(handed: list[HandedOut]) -> list[str]:
    return [h.row.id for h in handed]


def test_claims_by_priority_then_queue_time_only_from_requested_queues(env: Env) -> None:
    low, high, mid_late, mid_early, gpu = queued(env, "prio", 5)
    for ti_id, weight, at in [
        (low, 1, T0 - 2 * S),
        (high, 5, T0 - 2 * S),
        (mid_late, 3, T0 - S),
        (mid_early, 3, T0 - 2 * S),
    ]:
        change(env, ti_id, priority_weight=weight, queued_at=at)
    change(env, gpu, priority_weight=9, queue="gpu")
    assert ids(claim(env, slots=3)) == [high, mid_early, mid_late]
    assert ids(claim(env, slots=3)) == [low]
    assert claim(env, slots=3) == []
    assert ids(claim(env, queues=("gpu", "other"))) == [gpu]


def test_a_claim_is_a_lease_on_a_queued_task(env: Env) -> None:
    (ti_id,) = queued(env, "lease", 1)
    (handed,) = claim(env, "dies", now=T0)
    assert handed.claim == Claim(TaskTry(ti_id, 1), epoch=1, started=False)
    stored = env.ti_by_id(ti_id)
    assert (stored.state, stored.claimed_by, stored.claimed_at) == (TIS.QUEUED, "dies", T0)
    assert claim(env, "lives", now=T0 + 60 * S) == []
    (again,) = claim(env, "lives", now=T0 + 61 * S)
    assert again.claim == Claim(TaskTry(ti_id, 1), epoch=2, started=False)
    assert env.ti_by_id(ti_id).claimed_by == "lives"


def test_a_claim_made_before_the_task_was_queued_again_does_not_hold(env: Env) -> None:
    (ti_id,) = queued(env, "requeued", 1)
    change(env, ti_id, claimed_by="old-worker", claimed_at=T0 - 5 * S)
    assert ids(claim(env)) == [ti_id]


@pytest.mark.parametrize("state", [TIS.SCHEDULED, TIS.RUNNING, None])
def test_only_queued_tasks_are_handed_out(env: Env, state: TIS | None) -> None:
    other, ti_id = queued(env, "states", 2)
    change(env, other, state=state)
    assert ids(claim(env)) == [ti_id]


def test_a_claim_never_takes_more_than_its_slots(env: Env) -> None:
    all_ids = queued(env, "many", 30, max_active_tasks=64)
    for index, ti_id in enumerate(all_ids):
        change(env, ti_id, priority_weight=index % 3)
    handed: list[str] = []
    for slots in (1, 2, 5, 1, 7, 3):
        batch = claim(env, slots=slots)
        assert len(batch) == slots
        handed += ids(batch)
    assert len(set(handed)) == len(handed) == 19
    assert set(handed) <= set(all_ids)


def test_the_hand_out_starts_the_first_it_takes_and_tells_the_try_of_the_rest(env: Env) -> None:
    first, second, resumed = queued(env, "eager", 3)
    change(env, first, priority_weight=9)
    change(env, second, priority_weight=5, try_number=1)
    change(env, resumed, try_number=1, next_method="execute_complete")
    handed = claim(env, start=StartAs(1, "box-1", 4321))
    assert ids(handed) == [first, second, resumed]
    assert [h.claim.task_try.try_number for h in handed] == [1, 2, 1]
    assert [h.claim.started for h in handed] == [True, False, False]
    assert handed[0].started is not None
    assert handed[0].started.try_number == 1
    ti = env.ti_by_id(first)
    assert (ti.state, ti.try_number, ti.hostname, ti.pid, ti.claimed_by) == (
        TIS.RUNNING,
        1,
        "box-1",
        4321,
        "w1",
    )
    assert (env.ti_by_id(second).state, env.ti_by_id(second).try_number) == (TIS.QUEUED, 1)


def _xcoms(env: Env, dag_id: str) -> list[str]:
    with env.sessions() as session:
        return list(session.scalars(select(XCom.key).where(XCom.dag_id == dag_id)))


def _push(env: Env, ti_id: str, key: str) -> None:
    ti = env.ti_by_id(ti_id)
    with env.sessions() as session:
        session.add(
            XCom(dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, key=key, value="1")
        )
        session.commit()


@pytest.mark.parametrize("one_statement", [False, True], ids=["claim-then-start", "one-statement"])
def test_a_new_try_starts_without_the_xcoms_of_the_last_one_a_resumed_one_keeps_them(
    env: Env, one_statement: bool
) -> None:
    if one_statement and not env.url.startswith("postgresql"):
        pytest.skip("the one-statement hand-out is PostgreSQL's")
    retried, resumed, fresh = queued(env, "retry", 3)
    change(env, retried, try_number=1, priority_weight=3)
    change(env, resumed, try_number=1, first_poke_at=T0, priority_weight=2)
    for ti_id, key in ((retried, "old"), (resumed, "poked"), (fresh, "stray")):
        _push(env, ti_id, key)
    start = StartAs(3, "h", 7)
    if one_statement:
        with env.sessions() as session:
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            handed = claim_and_start(session, "w1", ["default"], start, T0, LEASE_S)
    else:
        handed = claim(env, start=start)
    assert ids(handed) == [retried, resumed, fresh]
    assert [h.claim.task_try.try_number for h in handed] == [2, 1, 1]
    assert all(h.claim.started and h.claim.epoch == 1 for h in handed)
    assert sorted(_xcoms(env, "retry")) == ["poked", "stray"]


def test_give_back_queues_started_tasks_with_their_try_uncounted_and_drops_claims(
    env: Env,
) -> None:
    started, resumed, claimed = queued(env, "back", 3)
    change(env, started, priority_weight=3)
    change(env, resumed, priority_weight=2, try_number=1, first_poke_at=T0)
    handed = claim(env, start=StartAs(2, "h", 7))
    with env.sessions() as session:
        assert give_back(session.connection(), "w1", [h.claim for h in handed]) == 3
        session.commit()
    for ti_id, try_number in ((started, 0), (resumed, 1), (claimed, 0)):
        ti = env.ti_by_id(ti_id)
        assert (ti.state, ti.try_number, ti.claimed_by, ti.hostname, ti.pid) == (
            TIS.QUEUED,
            try_number,
            None,
            None,
            None,
        )


def test_a_give_back_whose_claim_moved_on_is_refused(env: Env) -> None:
    (ti_id,) = queued(env, "moved", 1)
    (old,) = claim(env, "w1", now=T0)
    (new,) = claim(env, "w1", now=T0 + 61 * S)  # the same worker, a later claim
    with env.sessions() as session:
        assert give_back(session.connection(), "w1", [old.claim]) == 0
        assert give_back(session.connection(), "w2", [new.claim]) == 0
        session.commit()
    assert env.ti_by_id(ti_id).claimed_by == "w1"
