"""Serialize the scheduling of one DAG run across processes.

Whoever schedules a run first *writes* its row (``last_scheduling_decision = now``). On
PostgreSQL that takes the row lock until commit, so a runner's ``finish_task`` and the scheduler
examining the same run take turns, and the second one sees what the first committed (two sibling
tasks finishing at once cannot both miss that their common downstream task is ready). On SQLite
the first write takes the database's write lock, which has the same effect. Everything after the
lock is therefore decided on fresh, stable data. The ``UPDATE … RETURNING`` both locks and reads
the run in one round trip.

The scheduler loop instead *skips* runs another scheduler holds (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite runs one writer at a time anyway).

Lock order, everywhere: DAG run → DAG row (only to start a queued run) → task instances → pools
(name order). Keeping one order is what keeps concurrent schedulers and API servers free of
deadlocks; the scheduler's queueing across runs takes no run lock and starts at task instances,
skipping the ones another transaction holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, bindparam, select, tuple_, update
from sqlalchemy.orm import Session

from airlock.db import DagRun, TaskInstance
from airlock.models.states import DagRunState
from airlock.scheduling.tables import DAG_RUN, TI, connection


@dataclass(frozen=True, slots=True)
class LockedRun:
    """What scheduling after one task's end reads of the run it locked (no ORM object)."""

    id: int
    dag_id: str
    run_id: str
    state: DagRunState
    dag_version_id: int
    run_after: dt.datetime
    start_date: dt.datetime | None


_LOCK_RUN = (
    update(DAG_RUN)
    .values(last_scheduling_decision=bindparam("now"))
    .returning(
        DAG_RUN.c.id,
        DAG_RUN.c.dag_id,
        DAG_RUN.c.run_id,
        DAG_RUN.c.state,
        DAG_RUN.c.dag_version_id,
        DAG_RUN.c.run_after,
        DAG_RUN.c.start_date,
    )
)
_LOCK_RUN_OF_TI = _LOCK_RUN.where(
    tuple_(DAG_RUN.c.dag_id, DAG_RUN.c.run_id).in_(
        select(TI.c.dag_id, TI.c.run_id).where(TI.c.id == bindparam("ti_id"))
    )
)
#: Lock the run ``:k_dag_id`` / ``:k_run_id`` (``:now``), returning :class:`LockedRun`'s columns.
LOCK_RUN_BY_KEY = _LOCK_RUN.where(
    DAG_RUN.c.dag_id == bindparam("k_dag_id"), DAG_RUN.c.run_id == bindparam("k_run_id")
)


def lock_run_for_task_end(session: Session, ti_id: str, now: dt.datetime) -> LockedRun | None:
    """Lock the run of a task instance like :func:`lock_run_of_task_instance`, reading only
    :class:`LockedRun`'s columns (one prebuilt statement: the hot path of every task's end)."""
    row = connection(session).execute(_LOCK_RUN_OF_TI, {"ti_id": ti_id, "now": now}).one_or_none()
    return None if row is None else LockedRun(*row)


def lock_run_by_key_for_task_end(
    session: Session, dag_id: str, run_id: str, now: dt.datetime
) -> LockedRun | None:
    """:func:`lock_run_for_task_end` for the run ``dag_id`` / ``run_id``."""
    params = {"k_dag_id": dag_id, "k_run_id": run_id, "now": now}
    row = connection(session).execute(LOCK_RUN_BY_KEY, params).one_or_none()
    return None if row is None else LockedRun(*row)


def load_locked_run(session: Session, run: LockedRun) -> DagRun:
    """The ORM object of a run this transaction has locked, freshly loaded."""
    return session.get_one(DagRun, run.id, populate_existing=True)


def lock_run(session: Session, run_pk: int, now: dt.datetime) -> DagRun | None:
    """Lock the run (waiting for another holder) and return it freshly loaded; None if gone."""
    return _lock(session, DagRun.id == run_pk, now)


def lock_run_if_unchanged(
    session: Session, run_pk: int, seen: dt.datetime | None, now: dt.datetime
) -> DagRun | None:
    """:func:`lock_run` unless another transaction locked the run since its
    ``last_scheduling_decision`` was ``seen`` (then None): every writer that changes what a
    scheduling pass decides from (a task's end, a clear, a mark, another pass) locks the run first.
    """
    unchanged = DagRun.last_scheduling_decision.is_not_distinct_from(seen)
    return _lock(session, (DagRun.id == run_pk) & unchanged, now)


def lock_run_of_task_instance(session: Session, ti_id: str, now: dt.datetime) -> DagRun | None:
    """Lock the run a task instance belongs to, as :func:`lock_run`; None if there is none."""
    of_ti = select(TaskInstance.dag_id, TaskInstance.run_id).where(TaskInstance.id == ti_id)
    return _lock(session, tuple_(DagRun.dag_id, DagRun.run_id).in_(of_ti), now)


def lock_run_by_key(session: Session, dag_id: str, run_id: str, now: dt.datetime) -> DagRun | None:
    return _lock(session, (DagRun.dag_id == dag_id) & (DagRun.run_id == run_id), now)


def _lock(session: Session, where: ColumnElement[bool], now: dt.datetime) -> DagRun | None:
    return session.scalars(
        update(DagRun).where(where).values(last_scheduling_decision=now).returning(DagRun),
        execution_options={"populate_existing": True, "synchronize_session": False},
    ).one_or_none()


def try_lock_run(session: Session, run_pk: int) -> DagRun | None:
    """Lock the run unless another transaction holds it (then None): the scheduler's way."""
    statement = select(DagRun).where(DagRun.id == run_pk).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return session.scalars(statement).one_or_none()
