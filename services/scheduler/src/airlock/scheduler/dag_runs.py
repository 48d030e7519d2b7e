"""Time-scheduled DAG runs: keep each DAG's ``next_dagrun*`` columns right, create runs when due.

``dag.next_dagrun_create_after`` is the one column the loop asks "is anything due?" of (it is
indexed with ``is_paused`` and ``is_stale``). It is computed from the DAG's latest version and its
latest *scheduled* run (:func:`airlock.scheduling.next_run_info`) whenever the scheduler sees a
DAG it has not computed yet, a new version of it, a DAG that was unpaused (so a DAG without
catch-up resumes at its latest tick, not at the one it was paused on), or a DAG parsed again (a
timetable written in Python lists its runs at each parse, on the DAG's row). A DAG with no time-based
schedule gets ``NULL`` and is never due.

Creating a due run: unless the DAG already has ``max_active_runs`` queued or running runs (one,
for ``@continuous``), ``next_dagrun*`` moves on to the following tick — conditionally on still
naming this run, which is what lets exactly one scheduler create it — and the run is created. On
PostgreSQL the DAG rows are also locked (``FOR UPDATE SKIP LOCKED``) so schedulers share the due
DAGs instead of queueing behind each other. A run id that already exists (a manual run took it)
is skipped over.

A DAG whose latest version cannot be read (:class:`~airlock.scheduling.BadDagVersion`) gets no
next run: it is flagged ``has_import_errors`` with the reason added to its file's import error,
which the Web API shows, and every other DAG is scheduled as before.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, cast

import msgspec
from sqlalchemy import CursorResult, case, func, select, update
from sqlalchemy.orm import Session

from airlock.db import Dag, DagRun, ParseImportError
from airlock.models.dag import ContinuousSchedule, ListedRuns, SerializedDag
from airlock.models.states import DagRunState, DagRunType
from airlock.scheduling import (
    BadDagVersion,
    DagCache,
    DagRunExists,
    NextRun,
    create_dag_run,
    next_run_info,
)

log = logging.getLogger(__name__)

_NO_NEXT_RUN: dict[str, Any] = {
    "next_dagrun": None,
    "next_dagrun_data_interval_start": None,
    "next_dagrun_data_interval_end": None,
    "next_dagrun_create_after": None,
}


class NextRunTracker:
    """Remembers, per DAG, the (version, paused, parsed at) its ``next_dagrun*`` were computed
    for.

    The DAG table is scanned only when a one-row summary of it (how many DAGs, the newest
    version id, how many are paused or stale) differs from the last scan's.
    """

    def __init__(self, cache: DagCache) -> None:
        self._cache = cache
        self._computed: dict[str, tuple[int, bool, dt.datetime | None]] = {}
        self._summary: tuple[Any, ...] | None = None

    def refresh(self, session: Session, now: dt.datetime) -> int:
        """Recompute ``next_dagrun*`` of DAGs that are new, changed or unpaused; how many."""
        summary = tuple(
            session.execute(
                select(
                    func.count(),
                    func.max(Dag.latest_version_id),
                    func.sum(case((Dag.is_paused, 1), else_=0)),
                    func.sum(case((Dag.is_stale, 1), else_=0)),
                    func.max(Dag.last_parsed_at),
                )
            ).one()
        )
        if summary == self._summary:
            return 0
        self._summary = summary
        rows = session.execute(
            select(Dag.dag_id, Dag.latest_version_id, Dag.is_paused, Dag.last_parsed_at).where(
                Dag.latest_version_id.is_not(None), Dag.is_stale.is_(False)
            )
        ).all()
        updated = 0
        for dag_id, version_id, is_paused, parsed_at in rows:
            if version_id is None:
                continue
            key = (version_id, is_paused, parsed_at)
            if self._computed.get(dag_id) == key:
                continue
            if not is_paused:
                try:
                    set_next_run(session, self._cache, dag_id, version_id, now)
                except BadDagVersion as exc:
                    report_bad_dag(session, dag_id, str(exc), now)
                updated += 1
            self._computed[dag_id] = key
        return updated


def report_bad_dag(session: Session, dag_id: str, reason: str, now: dt.datetime) -> None:
    """Show a DAG whose stored version cannot be read where people look: its flag, and its
    file's import error (the Web API lists both); it gets no next run."""
    log.error("DAG %s is not scheduled: %s", dag_id, reason)
    dag = session.get(Dag, dag_id)
    if dag is None:
        return
    dag.has_import_errors = True
    for column, value in _NO_NEXT_RUN.items():
        setattr(dag, column, value)
    error = session.scalar(
        select(ParseImportError).where(
            ParseImportError.bundle_name == dag.bundle_name,
            ParseImportError.filename == dag.relative_fileloc,
        )
    )
    if error is None:
        session.add(
            ParseImportError(
                bundle_name=dag.bundle_name,
                filename=dag.relative_fileloc,
                stacktrace=reason,
                timestamp=now,
            )
        )
    elif reason not in error.stacktrace:
        error.stacktrace = f"{error.stacktrace}\n\n{reason}"
        error.timestamp = now


def set_next_run(
    session: Session,
    cache: DagCache,
    dag_id: str,
    version_id: int,
    now: dt.datetime,
    *,
    after: dt.datetime | None = None,
) -> dt.datetime | None:
    """Store the DAG's next time-based run after ``after`` (default: its latest scheduled run)."""
    dag = cache.get(session, version_id)
    if after is None:
        after = session.scalar(
            select(func.max(DagRun.run_after)).where(
                DagRun.dag_id == dag_id, DagRun.run_type == DagRunType.SCHEDULED
            )
        )
    listed = session.scalar(select(Dag.listed_runs).where(Dag.dag_id == dag_id))
    info = next_run_info(dag, after, now=now, listed=_listed_runs(listed))
    session.execute(
        update(Dag)
        .where(Dag.dag_id == dag_id)
        .values(_next_run_values(info))
        .execution_options(synchronize_session=False)
    )
    return info.run_after if info else None


def _listed_runs(column: dict[str, Any] | None) -> ListedRuns | None:
    """The DAG row's ``listed_runs`` (written by the Internal API from a ``ListedRuns``)."""
    return None if column is None else msgspec.convert(column, ListedRuns)


def _next_run_values(info: NextRun | None) -> dict[str, Any]:
    if info is None:
        return _NO_NEXT_RUN
    return {
        "next_dagrun": info.logical_date,
        "next_dagrun_data_interval_start": info.data_interval.start,
        "next_dagrun_data_interval_end": info.data_interval.end,
        "next_dagrun_create_after": info.run_after,
    }


def create_due_runs(
    session: Session, cache: DagCache, now: dt.datetime, *, limit: int = 50
) -> list[DagRun]:
    """Create the runs that are due now; the caller commits."""
    due = (
        select(
            Dag.dag_id,
            Dag.latest_version_id,
            Dag.max_active_runs,
            Dag.next_dagrun,
            Dag.next_dagrun_data_interval_start,
            Dag.next_dagrun_data_interval_end,
            Dag.listed_runs,
        )
        .where(
            Dag.is_paused.is_(False),
            Dag.is_stale.is_(False),
            Dag.next_dagrun_create_after <= now,
        )
        .order_by(Dag.next_dagrun_create_after)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    created = []
    for row in session.execute(due).all():
        if row.latest_version_id is None or row.next_dagrun is None:
            continue
        try:
            dag = cache.get(session, row.latest_version_id)
        except BadDagVersion as exc:
            report_bad_dag(session, row.dag_id, str(exc), now)
            continue
        room = 1 if isinstance(dag.schedule, ContinuousSchedule) else row.max_active_runs
        if _active_runs(session, row.dag_id) >= room:
            continue
        if not _claim(session, dag, row, now):
            continue  # another scheduler created this run
        interval = (row.next_dagrun_data_interval_start, row.next_dagrun_data_interval_end)
        try:
            run = create_dag_run(
                session,
                row.dag_id,
                run_type=DagRunType.SCHEDULED,
                logical_date=row.next_dagrun,
                data_interval=interval if None not in interval else None,
                triggered_by="scheduler",
                dag_cache=cache,
                now=now,
            )
        except DagRunExists as exc:
            log.info("not creating a scheduled run: %s", exc)
            continue
        created.append(run)
        log.info("created run %s of %s", run.run_id, row.dag_id)
    return created


def _claim(session: Session, dag: SerializedDag, row: Any, now: dt.datetime) -> bool:
    """Move the DAG's ``next_dagrun*`` past the run about to be created, if no one else did.

    The update is conditional on ``next_dagrun`` still being the run's logical date, so of two
    schedulers that both saw the DAG due (SQLite has no ``SKIP LOCKED``) only one creates it.
    """
    after = row.next_dagrun_data_interval_end or row.next_dagrun
    info = next_run_info(dag, after, now=now, listed=_listed_runs(row.listed_runs))
    result = cast(
        CursorResult[object],
        session.execute(
            update(Dag)
            .where(Dag.dag_id == row.dag_id, Dag.next_dagrun == row.next_dagrun)
            .values(_next_run_values(info))
            .execution_options(synchronize_session=False)
        ),
    )
    return result.rowcount > 0


def _active_runs(session: Session, dag_id: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(DagRun)
            .where(
                DagRun.dag_id == dag_id,
                DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING]),
            )
        )
        or 0
    )
