"""The callback queue's consumer side: leasing callback requests to a callback processor,
recording how each attempt ended, and an op's retry of dead-lettered ones (DESIGN §4.4, §8).

A callback request is *due* while it is not done (``done_at`` NULL), its backoff has passed
(``next_attempt_at``) and no live lease holds it (:data:`~airlock.scheduling.leases.CALLBACK_LEASE`).
Leasing counts an attempt and records the first dispatch; a processor that dies leaves its lease
to expire, and the next lease delivers the callback again as a new attempt (at least once).
A reported outcome is fenced by the lease's epoch, and by the token's bundles: a report from a
holder whose lease moved on, or about another bundle's callback, changes nothing.

A failed attempt either waits (``retrying``) for an exponential backoff, or, if it was the last
of ``max_attempts``, is *dead-lettered* (``dead``): kept with its error and log until an op
retries it, which grants it another round of attempts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Table, func, literal, or_, select, true, update

from airlock.db import CallbackRequest, Dag
from airlock.models.callbacks import (
    CallbackOutcome,
    CallbackReportResult,
    LeasedCallback,
)
from airlock.scheduling import telemetry
from airlock.scheduling.leases import CALLBACK_LEASE, lease_params

_CB = cast(Table, CallbackRequest.__table__)

QUEUED = "queued"
RUNNING = "running"
RETRYING = "retrying"
SUCCESS = "success"
DEAD = "dead"
#: Attempts an op's retry of a dead-lettered callback grants it.
RETRY_ROUND = 3


@dataclass(frozen=True)
class Backoff:
    """Wait ``base_s * 2**(attempt-1)`` seconds after a failed attempt, at most ``max_s``."""

    base_s: float = 5.0
    max_s: float = 300.0

    def after(self, attempt: int) -> dt.timedelta:
        return dt.timedelta(seconds=min(self.max_s, self.base_s * 2 ** max(attempt - 1, 0)))


def idempotency_key(callback_id: int) -> str:
    """The key every attempt of one callback sees: the same event, however often delivered."""
    return f"airlock-callback-{callback_id}"


def _in_bundles(bundles: Collection[str] | None) -> Any:
    return true() if bundles is None else _CB.c.bundle_name.in_(list(bundles))


def lease_callbacks(
    connection: Connection,
    holder: str,
    bundles: Collection[str] | None,
    limit: int,
    lease_s: float,
    now: dt.datetime,
) -> list[LeasedCallback]:
    """Lease up to ``limit`` due callbacks of ``bundles`` (None: every bundle), oldest first."""
    if bundles is not None and not bundles:
        return []
    due = [
        _CB.c.done_at.is_(None),
        or_(_CB.c.next_attempt_at.is_(None), _CB.c.next_attempt_at <= now),
        _in_bundles(bundles),
    ]
    statement = (
        CALLBACK_LEASE.acquire_statement(connection.dialect.name, due, [_CB.c.id])
        .values(
            attempts=_CB.c.attempts + 1,
            state=RUNNING,
            first_started_at=_first_started(now),
        )
        .returning(
            _CB.c.id,
            _CB.c.lease_epoch,
            _CB.c.attempts,
            _CB.c.max_attempts,
            _CB.c.kind,
            _CB.c.bundle_name,
            _CB.c.dag_id,
            _CB.c.run_id,
            _CB.c.task_id,
            _CB.c.map_index,
            _CB.c.try_number,
            _CB.c.dag_version_id,
            _CB.c.payload,
            _CB.c.created_at,
        )
    )
    params = {**lease_params(CALLBACK_LEASE, holder, now, lease_s), "lease_limit": limit}
    rows = sorted(connection.execute(statement, params).all(), key=lambda r: r.id)
    files: dict[str, str] = {}
    if rows:
        found = connection.execute(
            select(Dag.dag_id, Dag.relative_fileloc).where(
                Dag.dag_id.in_({row.dag_id for row in rows})
            )
        )
        files = {row.dag_id: row.relative_fileloc for row in found}
    return [
        LeasedCallback(
            id=row.id,
            epoch=row.lease_epoch,
            attempt=row.attempts,
            max_attempts=row.max_attempts,
            idempotency_key=idempotency_key(row.id),
            kind=row.kind,
            bundle=row.bundle_name,
            dag_id=row.dag_id,
            run_id=row.run_id,
            relative_fileloc=files.get(row.dag_id),
            task_id=row.task_id,
            map_index=row.map_index,
            try_number=row.try_number,
            dag_version_id=row.dag_version_id,
            payload=row.payload or {},
            queued_at=row.created_at,
        )
        for row in rows
    ]


def _first_started(now: dt.datetime) -> Any:
    return func.coalesce(_CB.c.first_started_at, literal(now, _CB.c.first_started_at.type))


def record_outcomes(
    connection: Connection,
    holder: str,
    bundles: Collection[str] | None,
    outcomes: Sequence[CallbackOutcome],
    now: dt.datetime,
    backoff: Backoff,
) -> CallbackReportResult:
    """Record each outcome whose lease ``holder`` still holds under its epoch."""
    recorded: list[int] = []
    fenced: list[int] = []
    dead: list[int] = []
    for outcome in outcomes:
        held = [
            _CB.c.id == outcome.id,
            _CB.c.leased_by == holder,
            _CB.c.lease_epoch == outcome.epoch,
            _CB.c.done_at.is_(None),
            _in_bundles(bundles),
        ]
        released = CALLBACK_LEASE.release_values()
        if outcome.error is None:
            values: dict[str, Any] = {
                **released,
                "state": SUCCESS,
                "done_at": now,
                "next_attempt_at": None,
                "log": outcome.log,
            }
        else:
            row = connection.execute(
                select(_CB.c.attempts, _CB.c.max_attempts).where(*held)
            ).one_or_none()
            if row is None:
                fenced.append(outcome.id)
                continue
            last = row.attempts >= row.max_attempts
            values = {
                **released,
                "state": DEAD if last else RETRYING,
                "done_at": now if last else None,
                "next_attempt_at": None if last else now + backoff.after(row.attempts),
                "last_error": outcome.error,
                "log": outcome.log,
            }
            if last:
                dead.append(outcome.id)
        result = connection.execute(update(_CB).where(*held).values(values))
        if cast(CursorResult[Any], result).rowcount:
            recorded.append(outcome.id)
            telemetry.callback_reported(connection, outcome.id, values["state"], now)
        else:
            fenced.append(outcome.id)
            if outcome.id in dead:
                dead.remove(outcome.id)
    return CallbackReportResult(recorded=recorded, fenced=fenced, dead_lettered=dead)


def retry_dead(connection: Connection, ids: Collection[int]) -> list[int]:
    """Give dead-lettered callbacks ``ids`` another :data:`RETRY_ROUND` attempts; those that were
    dead (the others are left alone)."""
    if not ids:
        return []
    rows = connection.execute(
        update(_CB)
        .where(_CB.c.id.in_(list(ids)), _CB.c.state == DEAD)
        .values(
            state=QUEUED,
            done_at=None,
            next_attempt_at=None,
            max_attempts=_CB.c.attempts + RETRY_ROUND,
        )
        .returning(_CB.c.id)
    ).all()
    return sorted(row.id for row in rows)


__all__ = [
    "DEAD",
    "QUEUED",
    "RETRYING",
    "RETRY_ROUND",
    "RUNNING",
    "SUCCESS",
    "Backoff",
    "idempotency_key",
    "lease_callbacks",
    "record_outcomes",
    "retry_dead",
]
