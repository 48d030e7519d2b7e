"""The callback queue on SQLite and PostgreSQL: leasing counts attempts and stays within the
token's bundles, outcomes are fenced by epoch, failures back off and are dead-lettered after
``max_attempts``, an op's retry grants another round, and marking by hand queues callbacks."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from airlock.db import CallbackRequest
from airlock.models.callbacks import CallbackOutcome
from airlock.models.states import DagRunState
from airlock.scheduling import mark_run, mark_task_instances
from airlock.scheduling.callback_queue import (
    Backoff,
    lease_callbacks,
    record_outcomes,
    retry_dead,
)
from airlock.scheduling.dag_cache import DagCache

from .conftest import T0, Env, make_dag, task

S = dt.timedelta(seconds=1)
BACKOFF = Backoff(base_s=10, max_s=100)


def add(env: Env, *bundles: str) -> list[int]:
    with env.engine.begin() as connection:
        connection.execute(
            insert(CallbackRequest),
            [
                {
                    "kind": "task_failure",
                    "bundle_name": bundle,
                    "dag_id": "d",
                    "run_id": f"r{i}",
                    "task_id": "t",
                    "created_at": T0,
                }
                for i, bundle in enumerate(bundles)
            ],
        )
        return list(connection.scalars(select(CallbackRequest.id).order_by(CallbackRequest.id)))


def lease(env: Env, holder: str, now: dt.datetime, bundles: list[str] | None = None) -> list:
    with env.engine.begin() as connection:
        return lease_callbacks(connection, holder, bundles, 10, 30, now)


def report(env: Env, holder: str, now: dt.datetime, *outcomes: CallbackOutcome):
    with env.engine.begin() as connection:
        return record_outcomes(connection, holder, None, outcomes, now, BACKOFF)


def row(env: Env, callback_id: int) -> CallbackRequest:
    with env.sessions() as session:
        return session.get_one(CallbackRequest, callback_id)


def test_lease_counts_attempts_within_the_token_bundles(env: Env) -> None:
    mine, theirs = add(env, "mine", "theirs")
    leased = lease(env, "p1", T0 + S, ["mine"])
    assert [c.id for c in leased] == [mine]
    (callback,) = leased
    assert callback.attempt == 1
    assert callback.idempotency_key == f"airlock-callback-{mine}"
    assert lease(env, "p2", T0 + 2 * S, ["mine"]) == []  # held
    # The lease runs out: delivered again, as attempt 2 under a new epoch.
    (again,) = lease(env, "p2", T0 + 60 * S, ["mine"])
    assert (again.attempt, again.epoch) == (2, callback.epoch + 1)
    assert row(env, mine).first_started_at == T0 + S
    assert row(env, theirs).attempts == 0


def test_outcomes_are_fenced_by_epoch(env: Env) -> None:
    (cid,) = add(env, "b")
    (first,) = lease(env, "p1", T0)
    (second,) = lease(env, "p2", T0 + 60 * S)
    late = report(env, "p1", T0 + 61 * S, CallbackOutcome(id=cid, epoch=first.epoch))
    assert (late.recorded, late.fenced) == ([], [cid])
    done = report(env, "p2", T0 + 62 * S, CallbackOutcome(id=cid, epoch=second.epoch, log="hi"))
    assert done.recorded == [cid]
    stored = row(env, cid)
    assert (stored.state, stored.log, stored.leased_by) == ("success", "hi", None)
    assert lease(env, "p3", T0 + 600 * S) == []


def test_failures_back_off_then_dead_letter_and_an_op_retries(env: Env) -> None:
    (cid,) = add(env, "b")
    now = T0
    for attempt in (1, 2, 3):
        (leased,) = lease(env, "p", now)
        assert leased.attempt == attempt
        result = report(env, "p", now, CallbackOutcome(id=cid, epoch=leased.epoch, error="boom"))
        assert result.recorded == [cid]
        stored = row(env, cid)
        if attempt < 3:
            assert stored.state == "retrying"
            assert stored.next_attempt_at == now + dt.timedelta(seconds=10 * 2 ** (attempt - 1))
            assert lease(env, "p", now + S) == []  # still backing off
            now = stored.next_attempt_at
    assert result.dead_lettered == [cid]
    stored = row(env, cid)
    assert (stored.state, stored.last_error, stored.attempts) == ("dead", "boom", 3)
    assert lease(env, "p", now + 1000 * S) == []
    with env.engine.begin() as connection:
        assert retry_dead(connection, [cid, 9999]) == [cid]
    (leased,) = lease(env, "p", now + 1001 * S)
    assert (leased.attempt, leased.max_attempts) == (4, 6)


def test_marking_by_hand_queues_the_same_callbacks(env: Env) -> None:
    env.install(
        make_dag(
            "marked",
            [task("a", has_on_failure_callback=True), task("b", has_on_skipped_callback=True)],
            has_on_failure_callback=True,
        )
    )
    run = env.trigger("marked")
    env.schedule(run)
    cache = DagCache()
    with env.sessions() as session:
        mark_task_instances(session, "marked", run.run_id, "failed", cache, T0, task_ids=["a"])
        session.commit()
    with env.sessions() as session:
        mark_run(session, "marked", run.run_id, DagRunState.FAILED, T0 + S, dag_cache=cache)
        session.commit()
    with env.sessions() as session:
        kinds = sorted(
            (r.kind, r.task_id)
            for r in session.scalars(
                select(CallbackRequest).where(CallbackRequest.dag_id == "marked")
            )
        )
    assert kinds == [("dag_failure", None), ("task_failure", "a"), ("task_skipped", "b")]
