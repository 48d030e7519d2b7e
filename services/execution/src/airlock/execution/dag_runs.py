"""DAG-run reads and triggers for running tasks: the run a task belongs to, the run before it, and
``TriggerDagRunOperator`` (DESIGN §4.2). All limited to DAGs of the task token's bundle.

A task of an asset-triggered run also learns the asset events its run consumed
(:func:`triggering_asset_events`, given when the task starts)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, QueryParameter
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of, require_kind
from airlock.core.tokens import TokenKind
from airlock.db import Asset, AssetEvent, DagRun, DagRunAssetEvent, TaskInstance
from airlock.execution.access import Ident, bundle_dag, token_bundle
from airlock.execution.tables import AnyRow
from airlock.models.execution import (
    DagRunInfo,
    TaskStateList,
    TriggerDagRun,
    TriggeringAssetEvent,
)
from airlock.models.states import DagRunState, DagRunType
from airlock.scheduling import (
    DagCache,
    DagNotFound,
    DagRunExists,
    DagStale,
    create_dag_run,
    schedule_run,
)


def dag_run_info(run: DagRun | AnyRow) -> DagRunInfo:
    """The run as a task sees it (an ORM object, or a row of ``tables.RUN_INFO_COLUMNS``)."""
    return DagRunInfo(
        dag_id=run.dag_id,
        run_id=run.run_id,
        run_type=str(run.run_type),
        state=run.state,
        logical_date=run.logical_date,
        data_interval_start=run.data_interval_start,
        data_interval_end=run.data_interval_end,
        run_after=run.run_after,
        start_date=run.start_date,
        end_date=run.end_date,
        conf=dict(run.conf or {}),
    )


def triggering_asset_events(session: Session, run: DagRun | AnyRow) -> list[TriggeringAssetEvent]:
    """The asset events ``run`` consumed, oldest first; none (and no query) unless it is an
    ``asset_triggered`` run."""
    if run.run_type != DagRunType.ASSET_TRIGGERED:
        return []
    rows = session.execute(
        select(
            Asset.uri,
            Asset.name,
            AssetEvent.extra,
            AssetEvent.timestamp,
            AssetEvent.source_dag_id,
            AssetEvent.source_task_id,
            AssetEvent.source_run_id,
            AssetEvent.source_map_index,
        )
        .select_from(DagRun)
        .join(DagRunAssetEvent, DagRunAssetEvent.dag_run_id == DagRun.id)
        .join(AssetEvent, AssetEvent.id == DagRunAssetEvent.event_id)
        .join(Asset, Asset.id == AssetEvent.asset_id)
        .where(DagRun.dag_id == run.dag_id, DagRun.run_id == run.run_id)
        .order_by(AssetEvent.timestamp, AssetEvent.id)
    )
    return [
        TriggeringAssetEvent(
            uri=row.uri,
            name=row.name,
            extra=dict(row.extra or {}),
            timestamp=row.timestamp,
            source_dag_id=row.source_dag_id,
            source_task_id=row.source_task_id,
            source_run_id=row.source_run_id,
            source_map_index=row.source_map_index,
        )
        for row in rows
    ]


def _find_run(session: Session, dag_id: str, run_id: str) -> DagRun | None:
    return session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))


def _not_found(dag_id: str, run_id: str) -> Problem:
    return Problem(
        404, f"DAG run {run_id!r} of DAG {dag_id!r} does not exist", slug="dag-run-not-found"
    )


class DagRunController(Controller):
    path = "/dag-runs/{dag_id:str}"
    tags = ["dag runs"]
    guards = [require_kind(TokenKind.TASK)]

    @get("/previous", operation_id="GetPreviousDagRun", sync_to_thread=True)
    def get_previous(
        self,
        request: Request[Any, Any, Any],
        dag_id: Ident,
        before: FromQuery[str],
        session: NamedDependency[Session],
        run_state: Annotated[DagRunState | None, QueryParameter(name="state")] = None,
    ) -> DagRunInfo:
        """The latest run that was due before run ``before`` (optionally in ``state``)."""
        bundle_dag(session, token_bundle(request), dag_id)
        current = _find_run(session, dag_id, before)
        if current is None:
            raise _not_found(dag_id, before)
        query = select(DagRun).where(
            DagRun.dag_id == dag_id,
            or_(
                DagRun.run_after < current.run_after,
                (DagRun.run_after == current.run_after) & (DagRun.id < current.id),
            ),
        )
        if run_state is not None:
            query = query.where(DagRun.state == run_state)
        previous = session.scalar(
            query.order_by(DagRun.run_after.desc(), DagRun.id.desc()).limit(1)
        )
        if previous is None:
            raise Problem(
                404,
                f"DAG {dag_id!r} has no run before {before!r}"
                + (f" in state {run_state}" if run_state else ""),
                slug="no-previous-dag-run",
            )
        return dag_run_info(previous)

    @get("/by-logical-date", operation_id="FindDagRunByLogicalDate", sync_to_thread=True)
    def find_by_logical_date(
        self,
        request: Request[Any, Any, Any],
        dag_id: Ident,
        logical_date: FromQuery[dt.datetime],
        session: NamedDependency[Session],
    ) -> DagRunInfo:
        """The run of ``dag_id`` for ``logical_date`` (what ``ExternalTaskSensor`` waits on)."""
        bundle_dag(session, token_bundle(request), dag_id)
        if logical_date.tzinfo is None:
            raise Problem(
                400, f"logical_date {logical_date.isoformat()} has no time zone", slug="naive-date"
            )
        run = session.scalar(
            select(DagRun)
            .where(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date)
            .order_by(DagRun.id.desc())
            .limit(1)
        )
        if run is None:
            raise Problem(
                404,
                f"DAG {dag_id!r} has no run for logical date {logical_date.isoformat()}",
                slug="dag-run-not-found",
            )
        return dag_run_info(run)

    @get("/{run_id:str}/task-states", operation_id="GetTaskStatesOfRun", sync_to_thread=True)
    def task_states(
        self,
        request: Request[Any, Any, Any],
        dag_id: Ident,
        run_id: Ident,
        task_id: Annotated[str, QueryParameter(min_length=1, max_length=250)],
        session: NamedDependency[Session],
    ) -> TaskStateList:
        """The states of ``task_id``'s instances in the run, by map index (empty: none yet)."""
        bundle_dag(session, token_bundle(request), dag_id)
        if _find_run(session, dag_id, run_id) is None:
            raise _not_found(dag_id, run_id)
        states = session.scalars(
            select(TaskInstance.state)
            .where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
            )
            .order_by(TaskInstance.map_index)
        )
        return TaskStateList(states=list(states))

    @get("/{run_id:str}", operation_id="GetDagRunInfo", sync_to_thread=True)
    def get_run(
        self,
        request: Request[Any, Any, Any],
        dag_id: Ident,
        run_id: Ident,
        session: NamedDependency[Session],
    ) -> DagRunInfo:
        bundle_dag(session, token_bundle(request), dag_id)
        run = _find_run(session, dag_id, run_id)
        if run is None:
            raise _not_found(dag_id, run_id)
        return dag_run_info(run)

    @post("/", operation_id="TriggerDagRunFromTask", sync_to_thread=True, status_code=201)
    def trigger(
        self,
        request: Request[Any, Any, Any],
        dag_id: Ident,
        data: JSONBody[TriggerDagRun],
        session: NamedDependency[Session],
        dag_cache: NamedDependency[DagCache],
    ) -> DagRunInfo:
        """Create a run of a DAG of the same bundle and queue its first tasks at once.

        A run id that exists is a 409, unless ``reset_dag_run`` asks to replace that run.
        """
        dag = bundle_dag(session, token_bundle(request), dag_id)
        if dag.is_stale or dag.latest_version_id is None:
            raise Problem(
                409,
                f"DAG {dag_id!r} is no longer in its bundle; it cannot be triggered",
                slug="dag-stale",
            )
        if data.reset_dag_run and data.run_id:
            session.execute(
                delete(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == data.run_id)
            )
        try:
            run = create_dag_run(
                session,
                dag_id,
                run_type=DagRunType.MANUAL,
                conf=dict(data.conf),
                logical_date=data.logical_date,
                run_id=data.run_id,
                triggered_by=f"task:{claims_of(request).sub}",
                dag_cache=dag_cache,
            )
            schedule_run(session, run, dag_cache, dt.datetime.now(dt.UTC))
            session.commit()
        except DagRunExists as exc:
            session.rollback()
            raise Problem(
                409,
                f"{exc}; or pass reset_dag_run=True to replace it",
                slug="dag-run-exists",
            ) from None
        except (DagNotFound, DagStale) as exc:
            session.rollback()
            raise Problem(409, str(exc), slug="dag-not-runnable") from None
        return dag_run_info(run)
