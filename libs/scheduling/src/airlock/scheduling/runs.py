"""``create_dag_run``: a new run of a DAG's latest version, with its task instances.

The run is created ``queued`` with one task instance (no state) per task — a mapped task gets
its placeholder, map index -1, expanded when it is ready — in the caller's transaction, or, for a
big DAG on SQLite, in short transactions of their own (:func:`create_task_instances_in_batches`). Nothing is started here: call
:func:`~airlock.scheduling.schedule_run` on the new run in the same transaction to start it at
once (it becomes ``running`` if the DAG is under ``max_active_runs`` and not paused, and its first
tasks are queued); otherwise the scheduler loop starts it on its next pass. Queued runs of a DAG
start in ``run_after`` order.

Run ids default to Airflow's form, ``<run type>__<ISO logical date, or now>``
(``manual__2025-01-01T00:00:00+00:00``). A run id, or a logical date, that the DAG already has is
:class:`~airlock.scheduling.errors.DagRunExists`. If a concurrent transaction inserts the same run
id first, the insert fails with ``DagRunExists`` too, and the caller's transaction must be rolled
back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from airlock.core.telemetry import parse_traceparent
from airlock.db import Dag, DagRun
from airlock.models.states import DagRunState, DagRunType
from airlock.scheduling.dag_cache import DagCache
from airlock.scheduling.deadlines import record_deadlines
from airlock.scheduling.errors import DagNotFound, DagRunExists, DagStale
from airlock.scheduling.ti_rows import insert_rows, new_row

DataIntervalLike = tuple[dt.datetime, dt.datetime]


def create_dag_run(
    session: Session,
    dag_id: str,
    *,
    run_type: DagRunType | str,
    conf: Mapping[str, Any] | None = None,
    logical_date: dt.datetime | None = None,
    data_interval: DataIntervalLike | None = None,
    run_id: str | None = None,
    note: str | None = None,
    triggered_by: str | None = None,
    trace_parent: str | None = None,
    dag_cache: DagCache,
    now: dt.datetime | None = None,
    task_instances: bool = True,
) -> DagRun:
    """Create a queued run of ``dag_id``'s latest version; the caller commits.

    With ``task_instances=False`` the run is created alone: the caller commits it, then creates
    its task instances with :func:`create_task_instances_in_batches`.

    ``trace_parent``, a W3C ``traceparent`` (the creating request's), makes the run's spans
    continue that trace; one that is not valid is ignored (ADR 0024).
    ``data_interval`` defaults to ``[logical_date, logical_date]`` when a logical date is given.
    ``run_after`` (when the run may start) is the data interval's end for scheduled and backfill
    runs, and now for the others.
    """
    now = now or dt.datetime.now(dt.UTC)
    run_type = DagRunType(run_type)
    dag = session.execute(
        select(Dag.is_stale, Dag.latest_version_id).where(Dag.dag_id == dag_id)
    ).one_or_none()
    if dag is None:
        raise DagNotFound(f"DAG {dag_id!r} does not exist; check the DAG id and its bundle")
    if dag.latest_version_id is None:
        raise DagNotFound(f"DAG {dag_id!r} has no parsed version yet; wait for the DAG processor")
    if dag.is_stale:
        raise DagStale(
            f"DAG {dag_id!r} is no longer in its bundle; it keeps its history but cannot run"
        )
    logical_date = _aware(logical_date, "logical_date")
    if data_interval is None and logical_date is not None:
        data_interval = (logical_date, logical_date)
    if data_interval is not None:
        data_interval = (
            _aware(data_interval[0], "data_interval start") or now,
            _aware(data_interval[1], "data_interval end") or now,
        )
    if run_type in (DagRunType.SCHEDULED, DagRunType.BACKFILL) and data_interval is not None:
        run_after = data_interval[1]
    else:
        run_after = now
    run_id = run_id or f"{run_type.value}__{(logical_date or now).isoformat()}"
    _refuse_duplicate(session, dag_id, run_id, logical_date)

    run = DagRun(
        dag_id=dag_id,
        run_id=run_id,
        dag_version_id=dag.latest_version_id,
        logical_date=logical_date,
        data_interval_start=data_interval[0] if data_interval else None,
        data_interval_end=data_interval[1] if data_interval else None,
        run_after=run_after,
        run_type=run_type,
        state=DagRunState.QUEUED,
        queued_at=now,
        conf=dict(conf or {}),
        note=note,
        triggered_by=triggered_by,
        trace_parent=trace_parent if parse_traceparent(trace_parent) else None,
    )
    # Everything is ready before the first write: on SQLite that takes the one write lock.
    graph = dag_cache.graph(session, dag.latest_version_id)
    rows = [new_row(task, -1) for task in graph.tasks.values()] if task_instances else []
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        raise DagRunExists(
            f"DAG {dag_id!r} already has a run {run_id!r} (created concurrently); "
            "choose another run_id"
        ) from None
    insert_rows(
        session,
        rows,
        dag_id=dag_id,
        run_id=run_id,
        dag_version_id=dag.latest_version_id,
        tasks=graph.tasks,
        now=now,
    )
    if graph.dag.deadlines:
        record_deadlines(session, graph.dag, run, now)
    return run


def create_task_instances_in_batches(
    session: Session, run: DagRun, dag_cache: DagCache, now: dt.datetime, *, batch: int
) -> None:
    """Create the task instances of ``run`` (committed, created with ``task_instances=False``)
    ``batch`` at a time, committing after each batch, so that on SQLite other writers take the
    write lock in between instead of waiting for one long insert (ADR 0018).

    A run whose instances are not all there yet is never judged on the ones that are: every
    scheduling pass first creates the instances its run lacks, so a scheduler that starts the run
    meanwhile creates the rest itself, and the batches then skip what it created.
    """
    graph = dag_cache.graph(session, run.dag_version_id)
    rows = [new_row(task, -1) for task in graph.tasks.values()]
    for start in range(0, len(rows), batch):
        insert_rows(
            session,
            rows[start : start + batch],
            dag_id=run.dag_id,
            run_id=run.run_id,
            dag_version_id=run.dag_version_id,
            tasks=graph.tasks,
            now=now,
            skip_existing=True,
        )
        session.commit()


def _refuse_duplicate(
    session: Session, dag_id: str, run_id: str, logical_date: dt.datetime | None
) -> None:
    same = DagRun.run_id == run_id
    if logical_date is not None:
        same = or_(same, DagRun.logical_date == logical_date)
    existing = session.execute(
        select(DagRun.run_id, DagRun.logical_date).where(DagRun.dag_id == dag_id, same).limit(1)
    ).one_or_none()
    if existing is None:
        return
    if existing.run_id == run_id:
        raise DagRunExists(f"DAG {dag_id!r} already has a run {run_id!r}; choose another run_id")
    assert logical_date is not None
    raise DagRunExists(
        f"DAG {dag_id!r} already has a run for logical date {logical_date.isoformat()} "
        f"({existing.run_id!r}); choose another logical date, or none"
    )


def _aware(value: dt.datetime | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} {value.isoformat()} has no timezone; pass an aware datetime such as "
            f"{value.replace(tzinfo=dt.UTC).isoformat()}"
        )
    return value.astimezone(dt.UTC)
