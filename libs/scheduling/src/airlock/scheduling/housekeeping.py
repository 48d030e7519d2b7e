"""Recover what a dead or stuck holder left behind (DESIGN §8).

- :func:`fail_zombies`: a running task whose heartbeat stopped (its worker died or lost the
  network) fails like a task that raised: it is retried if it has tries left.
- :func:`expire_claims`: a queued task a worker claimed but never started goes back to the pool
  of claimable work once the claim's lease is over.
- :func:`return_unconfirmed`: a task the hand-out started whose runner never confirmed it
  received it (the reply was lost with the API or its connection) goes back to ``queued`` with
  its try uncounted, seconds after the hand-out rather than at the heartbeat timeout.
- :func:`fail_timed_out`: a running task past its ``execution_timeout`` (plus a grace period:
  the worker enforces the timeout first) fails the same way.

Each failure goes through the same path as a runner's own failure report
(:func:`airlock.scheduling.finish.apply_outcome`: history row, callbacks, retry delay), under the
run's lock, and the run is scheduled again at once; its reason is recorded on the task instance,
its try and its log (:mod:`airlock.scheduling.reasons`). The caller commits.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from airlock.db import TaskInstance
from airlock.models.execution import TaskFailed
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling.dag_cache import DagCache
from airlock.scheduling.finish import apply_outcome, load_task_instance
from airlock.scheduling.handout import UNSTART_VALUES
from airlock.scheduling.leases import TASK_CLAIM, expire
from airlock.scheduling.locking import lock_run_of_task_instance
from airlock.scheduling.reasons import describe, record_reason
from airlock.scheduling.run_pass import schedule_locked_run
from airlock.scheduling.tables import TI, AnyRow, connection

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_GRACE_S = 30.0
BATCH = 100


def fail_zombies(
    session: Session,
    now: dt.datetime,
    heartbeat_timeout_s: float,
    dag_cache: DagCache | None = None,
    *,
    limit: int = BATCH,
) -> list[str]:
    """Fail (or retry) running tasks silent for ``heartbeat_timeout_s``; their ids."""
    cutoff = now - dt.timedelta(seconds=heartbeat_timeout_s)
    last_sign = func.coalesce(TaskInstance.last_heartbeat_at, TaskInstance.start_date)
    ids = session.scalars(
        select(TaskInstance.id)
        .where(TaskInstance.state == TIS.RUNNING, last_sign < cutoff)
        .order_by(last_sign)
        .limit(limit)
    ).all()
    error = f"no heartbeat for {heartbeat_timeout_s:g}s: the worker running it is gone"
    return _fail_running(session, ids, now, error, dag_cache or DagCache(), still=_silent(cutoff))


def fail_timed_out(
    session: Session,
    now: dt.datetime,
    dag_cache: DagCache | None = None,
    *,
    grace_s: float = DEFAULT_TIMEOUT_GRACE_S,
    limit: int = BATCH,
) -> list[str]:
    """Fail (or retry) running tasks past ``execution_timeout`` + ``grace_s``; their ids."""
    cache = dag_cache or DagCache()
    rows = session.execute(
        select(
            TaskInstance.id,
            TaskInstance.task_id,
            TaskInstance.dag_version_id,
            TaskInstance.start_date,
        ).where(
            TaskInstance.state == TIS.RUNNING,
            TaskInstance.start_date < now - dt.timedelta(seconds=grace_s),
        )
    ).all()
    overdue = []
    for row in rows:
        task = cache.graph(session, row.dag_version_id).task(row.task_id)
        timeout = task.execution_timeout if task else None
        if timeout is not None and row.start_date + dt.timedelta(seconds=timeout + grace_s) < now:
            overdue.append(row.id)
    return _fail_running(
        session, overdue[:limit], now, "execution_timeout exceeded", cache, still=lambda _: True
    )


def expire_claims(session: Session, now: dt.datetime, lease_s: float) -> int:
    """Release the claims on queued tasks whose lease (``lease_s``) is over; how many."""
    released = expire(
        connection(session), TASK_CLAIM, now, lease_s, where=[TI.c.state == TIS.QUEUED]
    )
    if released:
        log.info("released %d expired claim(s) on queued tasks", released)
    return released


def return_unconfirmed(session: Session, now: dt.datetime, confirm_s: float) -> int:
    """Queue again, with their try uncounted, the tasks the hand-out started whose runner has
    not confirmed them within ``confirm_s``; how many."""
    returned = expire(
        connection(session),
        TASK_CLAIM,
        now,
        confirm_s,
        where=[TI.c.state == TIS.RUNNING],
        reset=UNSTART_VALUES,
        # A started task's claim ends only by its confirm deadline: the claim-before-queued rule
        # is about queued tasks, and a claimer's clock read just before the task was queued
        # would otherwise return a fresh start at once (and hand the task out twice).
        only_ran_out=True,
    )
    if returned:
        log.warning(
            "returned %d started task(s) to the queue: their worker never confirmed the hand-out "
            "within %g s (the reply was lost); their try is not counted",
            returned,
            confirm_s,
        )
    return returned


def _silent(cutoff: dt.datetime) -> Callable[[AnyRow], bool]:
    """Re-checked under the run's lock: a heartbeat may have arrived since the selection."""

    def still_silent(ti: AnyRow) -> bool:
        last = ti.last_heartbeat_at or ti.start_date
        return last is None or last < cutoff

    return still_silent


def _fail_running(
    session: Session,
    ids: Sequence[str],
    now: dt.datetime,
    error: str,
    cache: DagCache,
    *,
    still: Callable[[AnyRow], bool],
) -> list[str]:
    failed = []
    for ti_id in ids:
        run = lock_run_of_task_instance(session, ti_id, now)
        ti = load_task_instance(session, ti_id) if run is not None else None
        if run is None or ti is None or ti.state is not TIS.RUNNING or not still(ti):
            continue
        graph = cache.graph(session, ti.dag_version_id)
        task = graph.task(ti.task_id)
        if task is None:
            continue
        try_number = ti.try_number
        state = apply_outcome(session, ti, task, graph, TaskFailed(end_date=now, error=error), now)
        named = describe(ti.task_id, ti.map_index, ti.dag_id, ti.run_id, try_number)
        reason = f"{error}; the scheduler set it {state.value}"
        record_reason(session, ti_id, try_number, reason, now)
        log.warning("task %s: %s", named, reason)
        schedule_locked_run(session, run, cache, now)
        failed.append(ti_id)
    return failed
