"""When the scheduler should look again: at once when something changed, at the next due time,
or after ``loop_interval_s`` at the latest.

The scheduler does not sleep blindly between loops. While idle it asks the database one cheap
question every ``poll_s`` — a *fingerprint* made of counts and maxima over indexed columns (new
runs, queued and running runs, scheduled / queued / running task instances, DAG versions and
pauses, asset events waiting for a consumer) — and loops as soon as the answer changes: a run triggered through an API, a task that
freed a pool slot, a new DAG version. Times known in advance (a retry or reschedule that comes
due, a DAG's next run) end the wait exactly when they arrive.

Work that the APIs do themselves (queueing the next task when one ends, starting a triggered
run) never waits for the scheduler; the fingerprint only matters for what crosses runs.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from airlock.db import AssetDagRunQueue, Dag, DagRun, TaskInstance
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS


def fingerprint(session: Session) -> tuple[Any, ...]:
    """One round trip of counts that change whenever the scheduler may have new work."""

    def count_runs(state: DagRunState) -> Any:
        return select(func.count()).select_from(DagRun).where(DagRun.state == state)

    def count_tis(*states: TIS) -> Any:
        return select(func.count()).select_from(TaskInstance).where(TaskInstance.state.in_(states))

    row = session.execute(
        select(
            select(func.max(DagRun.id)).scalar_subquery(),
            count_runs(DagRunState.QUEUED).scalar_subquery(),
            count_runs(DagRunState.RUNNING).scalar_subquery(),
            count_tis(TIS.SCHEDULED).scalar_subquery(),
            count_tis(TIS.QUEUED, TIS.RUNNING, TIS.DEFERRED).scalar_subquery(),
            select(func.max(Dag.latest_version_id)).scalar_subquery(),
            select(func.count()).select_from(Dag).where(Dag.is_paused.is_(True)).scalar_subquery(),
            select(func.count()).select_from(AssetDagRunQueue).scalar_subquery(),
        )
    ).one()
    return tuple(row)


def next_due(session: Session, now: dt.datetime) -> dt.datetime | None:
    """The earliest time after ``now`` something becomes due (a retry, a reschedule, a DAG's
    next run). What is already due but could not proceed (a DAG at ``max_active_runs``) waits
    for a change instead, or the scheduler would spin on it."""
    retry = session.scalar(
        select(func.min(TaskInstance.next_retry_at)).where(
            TaskInstance.state.in_([TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE]),
            TaskInstance.next_retry_at > now,
        )
    )
    dag = session.scalar(
        select(func.min(Dag.next_dagrun_create_after)).where(
            Dag.is_paused.is_(False),
            Dag.is_stale.is_(False),
            Dag.next_dagrun_create_after > now,
        )
    )
    times = [t for t in (retry, dag) if t is not None]
    return min(times) if times else None


def wait_for_work(
    sessions: sessionmaker[Session],
    stop: threading.Event,
    *,
    timeout_s: float,
    poll_s: float,
    due: dt.datetime | None,
    seen: tuple[Any, ...] | None = None,
) -> str:
    """Block until the fingerprint differs from ``seen`` (default: from now), ``due`` arrives,
    ``timeout_s`` passes or ``stop`` is set.

    Passing the fingerprint taken when the last pass *began* catches changes made while that
    pass ran.

    Returns why it woke: ``"change"``, ``"due"``, ``"timeout"`` or ``"stop"``.
    """
    wait_s, on_deadline = timeout_s, "timeout"
    if due is not None:
        until_due = (due - dt.datetime.now(dt.UTC)).total_seconds()
        if until_due <= 0:
            return "due"
        if until_due < timeout_s:
            wait_s, on_deadline = until_due, "due"
    deadline = time.monotonic() + wait_s
    with sessions() as session:
        if seen is None:
            seen = fingerprint(session)
            session.rollback()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return on_deadline
            if stop.wait(min(poll_s, remaining)):
                return "stop"
            current = fingerprint(session)
            session.rollback()
            if current != seen:
                return "change"
