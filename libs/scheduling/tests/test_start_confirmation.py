"""A start made by the hand-out is a lease its runner confirms with its first heartbeat; one it
never confirms goes back to the queue with its try uncounted (on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest

from airlock.models.states import TaskInstanceState as TIS
from airlock.models.task_try import TaskTry
from airlock.scheduling import return_unconfirmed
from airlock.scheduling.handout import (
    HandedOut,
    StartAs,
    claim_and_start,
    claim_task_instances,
    take_claimed,
)
from airlock.scheduling.heartbeats import record_heartbeat
from airlock.scheduling.starting import start_task

from .conftest import T0, Env, make_dag, task

S = dt.timedelta(seconds=1)
LEASE_S = 60.0
CONFIRM_S = 10.0


def queued(env: Env, dag_id: str, count: int) -> list[str]:
    env.install(make_dag(dag_id, [task(f"t{i}") for i in range(count)]))
    run = env.trigger(dag_id)
    return [env.ti(run, f"t{i}").id for i in range(count)]


def hand_out(env: Env, now: dt.datetime, *, one_statement: bool = False) -> list[HandedOut]:
    """Claim and start everything queued for worker ``w1`` (supervisor pid 7 on ``box``)."""
    start = StartAs(10, "box", 7)
    with env.sessions() as session:
        if one_statement:
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            return claim_and_start(session, "w1", ["default"], start, now, LEASE_S)
        claims = claim_task_instances(session, "w1", ["default"], 10, now, LEASE_S)
        handed = take_claimed(session, claims, start, now)
        session.commit()
    return handed


def returned(env: Env, now: dt.datetime) -> int:
    with env.sessions() as session:
        count = return_unconfirmed(session, now, CONFIRM_S)
        session.commit()
    return count


def beat(env: Env, handed: HandedOut, now: dt.datetime, epoch: int | None) -> bool:
    with env.sessions() as session:
        alive = record_heartbeat(
            session.connection(), handed.claim.task_try, "box", 7, 99, now, epoch
        )
        session.commit()
    return alive


@pytest.mark.parametrize("one_statement", [False, True])
def test_an_unconfirmed_start_goes_back_to_the_queue_with_its_try_uncounted(
    env: Env, one_statement: bool
) -> None:
    if one_statement and not env.url.startswith("postgresql"):
        pytest.skip("the one-statement hand-out is PostgreSQL's")
    lost, confirmed = queued(env, "lost", 2)
    handed = {h.row.id: h for h in hand_out(env, T0, one_statement=one_statement)}
    assert env.ti_by_id(lost).state is TIS.RUNNING
    assert beat(env, handed[confirmed], T0 + 2 * S, handed[confirmed].claim.epoch)
    assert returned(env, T0 + 9 * S) == 0  # before the deadline
    assert returned(env, T0 + 11 * S) == 1
    ti = env.ti_by_id(lost)
    assert (ti.state, ti.try_number, ti.hostname, ti.pid, ti.start_date, ti.claimed_by) == (
        TIS.QUEUED,
        0,
        None,
        None,
        None,
        None,
    )
    kept = env.ti_by_id(confirmed)
    assert (kept.state, kept.try_number, kept.pid, kept.claimed_by) == (TIS.RUNNING, 1, 99, None)
    # Handed out again, it runs the try it would have run the first time.
    (again,) = hand_out(env, T0 + 12 * S)
    assert (again.row.id, again.claim.task_try.try_number) == (lost, 1)
    assert again.claim.epoch == handed[lost].claim.epoch + 1


def test_a_runner_of_an_earlier_hand_out_of_the_try_confirms_nothing(env: Env) -> None:
    (ti_id,) = queued(env, "twice", 1)
    (first,) = hand_out(env, T0)
    assert returned(env, T0 + 11 * S) == 1
    (second,) = hand_out(env, T0 + 12 * S)  # same worker, same supervisor pid, same try
    assert first.claim.task_try == second.claim.task_try == TaskTry(ti_id, 1)
    assert not beat(env, first, T0 + 13 * S, first.claim.epoch)
    assert beat(env, second, T0 + 13 * S, second.claim.epoch)
    assert returned(env, T0 + 30 * S) == 0
    assert env.ti_by_id(ti_id).state is TIS.RUNNING


def test_a_runner_that_starts_its_task_itself_has_confirmed_it(env: Env) -> None:
    (ti_id,) = queued(env, "itself", 1)
    with env.sessions() as session:
        claims = claim_task_instances(session, "w1", ["default"], 1, T0, LEASE_S)
        take_claimed(session, claims)  # claimed only: the runner starts it (PATCH …/run)
        assert start_task(session.connection(), ti_id, "box", 8, T0, T0) is not None
        session.commit()
    assert env.ti_by_id(ti_id).claimed_by is None
    assert returned(env, T0 + 30 * S) == 0
    assert env.ti_by_id(ti_id).state is TIS.RUNNING
