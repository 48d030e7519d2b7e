"""Deadline alerts: recorded when a run is created, claimed once when missed, cancelled when the
run ends first (DESIGN §4.4; the authoring side is ``airlock.sdk.DeadlineAlert``).

A missed deadline is claimed by a conditional update (``pending`` → ``missed``) that inserts the
alert's ``deadline`` callback request in the same transaction: with several schedulers on one
database, only the one whose update moved the row queues the callback. A run that ends first
moves its pending deadlines to ``cancelled`` in the transaction that ends it, so a deadline is
never claimed for a run that made it in time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import CursorResult, Table, insert, select, update
from sqlalchemy.orm import Session

from airlock.db import CallbackRequest, DagRun, DagRunDeadline
from airlock.models.dag import SerializedDag, SerializedDeadline
from airlock.models.states import DagRunState
from airlock.scheduling.callbacks import bundle_of

PENDING = "pending"
MISSED = "missed"
CANCELLED = "cancelled"
DEADLINE = "deadline"

_DL = cast(Table, DagRunDeadline.__table__)


def record_deadlines(session: Session, dag: SerializedDag, run: DagRun, now: dt.datetime) -> int:
    """Insert the pending deadlines of a new run; how many (an alert whose reference the run
    lacks, or an average of too few runs, has none)."""
    rows = []
    for index, alert in enumerate(dag.deadlines):
        at = _deadline_at(session, alert, run, now)
        if at is not None:
            rows.append(
                {
                    "dag_id": run.dag_id,
                    "run_id": run.run_id,
                    "alert_index": index,
                    "deadline_at": at,
                    "state": PENDING,
                    "created_at": now,
                }
            )
    if rows:
        session.execute(insert(DagRunDeadline), rows)
    return len(rows)


def _deadline_at(
    session: Session, alert: SerializedDeadline, run: DagRun, now: dt.datetime
) -> dt.datetime | None:
    interval = dt.timedelta(seconds=alert.interval_s)
    queued_at = run.queued_at or now
    if alert.reference == "dagrun_queued_at":
        return queued_at + interval
    if alert.reference == "dagrun_logical_date":
        return None if run.logical_date is None else run.logical_date + interval
    if alert.reference == "fixed_datetime":
        return None if alert.fixed_at is None else alert.fixed_at + interval
    if alert.reference == "average_runtime":
        durations = [
            (end - start).total_seconds()
            for start, end in session.execute(
                select(DagRun.start_date, DagRun.end_date)
                .where(
                    DagRun.dag_id == run.dag_id,
                    DagRun.state == DagRunState.SUCCESS,
                    DagRun.start_date.is_not(None),
                    DagRun.end_date.is_not(None),
                )
                .order_by(DagRun.end_date.desc())
                .limit(alert.max_runs)
            ).all()
            if start is not None and end is not None
        ]
        if len(durations) < (alert.min_runs or alert.max_runs):
            return None
        return queued_at + dt.timedelta(seconds=sum(durations) / len(durations)) + interval
    return None


def claim_missed(session: Session, now: dt.datetime, limit: int = 500) -> int:
    """Claim deadlines that passed by ``now`` and queue their callbacks; how many this caller
    claimed (another scheduler's claim of the same row makes this one's update miss it)."""
    due = session.execute(
        select(_DL.c.id)
        .where(_DL.c.state == PENDING, _DL.c.deadline_at <= now)
        .order_by(_DL.c.deadline_at)
        .limit(limit)
    ).all()
    claimed = 0
    for (deadline_id,) in due:
        row = session.execute(
            update(_DL)
            .where(_DL.c.id == deadline_id, _DL.c.state == PENDING)
            .values(state=MISSED)
            .returning(_DL.c.dag_id, _DL.c.run_id, _DL.c.alert_index, _DL.c.deadline_at)
        ).one_or_none()
        if row is None:
            continue
        version = session.scalar(
            select(DagRun.dag_version_id).where(
                DagRun.dag_id == row.dag_id, DagRun.run_id == row.run_id
            )
        )
        session.execute(
            insert(CallbackRequest).values(
                kind=DEADLINE,
                bundle_name=bundle_of(session, row.dag_id),
                dag_id=row.dag_id,
                run_id=row.run_id,
                dag_version_id=version,
                payload={
                    "alert_index": row.alert_index,
                    "deadline_at": row.deadline_at.isoformat(),
                    "reason": f"the run had not ended by its deadline {row.deadline_at.isoformat()}",
                },
                created_at=now,
            )
        )
        claimed += 1
    return claimed


def cancel_deadlines(session: Session, dag_id: str, run_id: str) -> int:
    """Cancel a run's pending deadlines (it ended); how many."""
    result = session.execute(
        update(_DL)
        .where(_DL.c.dag_id == dag_id, _DL.c.run_id == run_id, _DL.c.state == PENDING)
        .values(state=CANCELLED)
    )
    return cast(CursorResult[Any], result).rowcount


__all__ = ["CANCELLED", "MISSED", "PENDING", "cancel_deadlines", "claim_missed", "record_deadlines"]
