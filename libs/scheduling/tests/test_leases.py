"""The lease helper, on SQLite and PostgreSQL: on callback requests (a lease with an expiry
column) and on task instance claims (a lease with a taken-at column and a TTL)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from airlock.db import CallbackRequest, TaskInstance
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling.leases import (
    CALLBACK_LEASE,
    TASK_CLAIM,
    Held,
    acquire,
    expire,
    release,
    renew,
    still_held,
)

from .conftest import T0, Env, make_dag, task

S = dt.timedelta(seconds=1)
TTL = 10.0
BY_ID = (CALLBACK_LEASE.key,)


def add_callbacks(env: Env, count: int) -> list[int]:
    with env.engine.begin() as connection:
        connection.execute(
            insert(CallbackRequest),
            [
                {"kind": "dag_failure", "bundle_name": "local", "dag_id": "d", "run_id": f"r{i}"}
                for i in range(count)
            ],
        )
        return list(connection.scalars(select(CallbackRequest.id).order_by(CallbackRequest.id)))


def take(env: Env, holder: str, limit: int, now: dt.datetime) -> list[Held]:
    with env.engine.begin() as connection:
        return acquire(connection, CALLBACK_LEASE, holder, limit, now, TTL, order_by=BY_ID)


def holders(env: Env) -> dict[int, tuple[str | None, int]]:
    with env.engine.connect() as connection:
        rows = connection.execute(
            select(CallbackRequest.id, CallbackRequest.leased_by, CallbackRequest.lease_epoch)
        )
        return {row.id: (row.leased_by, row.lease_epoch) for row in rows}


def test_two_holders_never_hold_the_same_row(env: Env) -> None:
    ids = add_callbacks(env, 40)
    taken: dict[str, list[Any]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def drain(holder: str) -> None:
        try:
            while held := take(env, holder, 3, T0):
                taken[holder].extend(h.key for h in held)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(name,)) for name in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert not set(taken["a"]) & set(taken["b"])
    assert sorted(taken["a"] + taken["b"]) == ids
    assert {holder for holder, _ in holders(env).values()} <= {"a", "b"}
    assert {epoch for _, epoch in holders(env).values()} == {1}


def test_acquire_takes_at_most_limit_free_rows_in_order(env: Env) -> None:
    ids = add_callbacks(env, 5)
    assert [h.key for h in take(env, "a", 2, T0)] == ids[:2]
    assert [h.key for h in take(env, "b", 10, T0)] == ids[2:]
    assert take(env, "c", 10, T0) == []


def test_an_expired_lease_is_acquired_again_with_a_new_epoch(env: Env) -> None:
    (row,) = add_callbacks(env, 1)
    assert take(env, "a", 1, T0) == [Held(row, 1)]
    assert take(env, "b", 1, T0 + 9 * S) == []  # still a's
    assert take(env, "b", 1, T0 + 10 * S) == [Held(row, 2)]
    assert holders(env) == {row: ("b", 2)}


def test_the_stale_holder_may_neither_renew_nor_release(env: Env) -> None:
    (row,) = add_callbacks(env, 1)
    (stale,) = take(env, "a", 1, T0)
    (current,) = take(env, "b", 1, T0 + 11 * S)
    with env.engine.begin() as connection:
        assert not renew(connection, CALLBACK_LEASE, "a", stale, T0 + 12 * S, TTL)
        assert not still_held(connection, CALLBACK_LEASE, "a", stale)
        # the same holder name with the old epoch is stale too (a restarted process)
        assert not renew(connection, CALLBACK_LEASE, "b", stale, T0 + 12 * S, TTL)
    assert release(env.engine.begin, CALLBACK_LEASE, "a", [stale]) == 0
    assert release(env.engine.begin, CALLBACK_LEASE, "b", [stale]) == 0
    assert holders(env) == {row: ("b", 2)}
    with env.engine.begin() as connection:
        assert still_held(connection, CALLBACK_LEASE, "b", current)
        assert renew(connection, CALLBACK_LEASE, "b", current, T0 + 20 * S, TTL)
    assert take(env, "c", 1, T0 + 29 * S) == []  # renewed until T0 + 30 s
    assert release(env.engine.begin, CALLBACK_LEASE, "b", [current]) == 1
    assert take(env, "c", 1, T0 + 29 * S) == [Held(row, 3)]


def test_a_late_write_of_the_stale_holder_is_fenced_off(env: Env) -> None:
    (row,) = add_callbacks(env, 1)
    (stale,) = take(env, "a", 1, T0)
    take(env, "b", 1, T0 + 11 * S)

    def mark_done(connection: Connection, holder: str, held: Held) -> int:
        result = connection.execute(
            update(CallbackRequest)
            .where(CallbackRequest.id == held.key, CALLBACK_LEASE.held())
            .values(done_at=T0 + 12 * S),
            {"lease_holder": holder, "lease_held_epoch": held.epoch},
        )
        return result.rowcount

    with env.engine.begin() as connection:
        assert mark_done(connection, "a", stale) == 0
        assert mark_done(connection, "b", Held(row, 2)) == 1


def test_give_back_on_a_fresh_connection_after_the_holders_broke(env: Env) -> None:
    (row,) = add_callbacks(env, 1)
    connection = env.engine.connect()
    held = acquire(connection, CALLBACK_LEASE, "a", 1, T0, TTL)
    connection.commit()
    connection.connection.dbapi_connection.close()
    with pytest.raises(DBAPIError):
        connection.execute(select(1))
    connection.invalidate()
    connection.close()
    assert release(env.engine.begin, CALLBACK_LEASE, "a", held) == 1
    assert holders(env) == {row: (None, 1)}
    assert take(env, "b", 1, T0 + S) == [Held(row, 2)]


def test_expire_frees_only_leases_that_ran_out(env: Env) -> None:
    first, second = add_callbacks(env, 2)
    take(env, "a", 1, T0)
    take(env, "b", 1, T0 + 5 * S)
    with env.engine.begin() as connection:
        assert expire(connection, CALLBACK_LEASE, T0 + 9 * S, TTL) == 0
        assert expire(connection, CALLBACK_LEASE, T0 + 10 * S, TTL) == 1
    assert holders(env) == {first: (None, 1), second: ("b", 1)}
    with env.engine.begin() as connection:
        assert not renew(connection, CALLBACK_LEASE, "a", Held(first, 1), T0 + 11 * S, TTL)


def test_a_task_claim_lapses_after_its_ttl_or_when_the_task_is_queued_again(env: Env) -> None:
    env.install(make_dag("c", [task("a"), task("b")]))
    run = env.trigger("c")
    a, b = env.ti(run, "a"), env.ti(run, "b")
    queued = [TaskInstance.state == TIS.QUEUED]
    order = (TaskInstance.task_id,)

    def claim(holder: str, now: dt.datetime) -> list[Held]:
        with env.engine.begin() as connection:
            return acquire(
                connection, TASK_CLAIM, holder, 5, now, TTL, where=queued, order_by=order
            )

    assert claim("w1", T0) == [Held(a.id, 1), Held(b.id, 1)]
    assert claim("w2", T0 + 9 * S) == []
    with env.engine.begin() as connection:  # b is queued again (a retry) after its claim
        connection.execute(
            update(TaskInstance).where(TaskInstance.id == b.id).values(queued_at=T0 + S)
        )
    assert claim("w2", T0 + 9 * S) == [Held(b.id, 2)]
    assert claim("w3", T0 + 10 * S) == []  # a claim lapses once it is older than its TTL
    assert claim("w3", T0 + 11 * S) == [Held(a.id, 2)]
    with env.engine.connect() as connection:
        assert connection.scalar(select(func.max(TaskInstance.claim_epoch))) == 2
