"""DAG runs for people and the CLI: trigger one, read its state, its task instances and logs.

Triggering creates the run and queues its first tasks in the same transaction
(``airlock.scheduling``), so a worker can start them at once instead of waiting for the
scheduler's next loop.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of, require_user_role
from airlock.core.tokens import UserRole
from airlock.db import DagRun, DagVersion, LogChunk, TaskInstance
from airlock.models.states import TERMINAL_TASK_STATES, DagRunType, TaskInstanceState
from airlock.models.web import DagRunCreate, DagRunView, LogPage, TaskInstanceList, TaskInstanceView
from airlock.scheduling import DagCache, DagRunExists, create_dag_run, schedule_run
from airlock.web.access import visible_dag

LOG_PAGE_CHUNKS = 200


class DagRunController(Controller):
    path = "/dags/{dag_id:str}/dagRuns"
    tags = ["dag runs"]
    guards = [require_user_role(UserRole.VIEWER)]

    @post(
        "/",
        operation_id="TriggerDagRun",
        guards=[require_user_role(UserRole.OP)],
        sync_to_thread=True,
        status_code=201,
    )
    def trigger(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        data: JSONBody[DagRunCreate],
        session: NamedDependency[Session],
        state: State,
    ) -> DagRunView:
        dag = visible_dag(request, session, dag_id)
        if dag.is_stale or dag.latest_version_id is None:
            raise Problem(
                409,
                f"DAG {dag_id!r} is no longer in its bundle; it cannot be triggered",
                slug="dag-stale",
            )
        cache: DagCache = state["dag_cache"]
        now = dt.datetime.now(dt.UTC)
        try:
            run = create_dag_run(
                session,
                dag_id,
                run_type=DagRunType.MANUAL,
                conf=dict(data.conf),
                # As Airflow's UI does: a manual run's logical date is "now" unless given, so
                # templates such as {{ ds }} render.
                logical_date=data.logical_date or now,
                run_id=data.run_id,
                note=data.note,
                triggered_by=claims_of(request).sub,
                dag_cache=cache,
            )
            schedule_run(session, run, cache, now)
            session.commit()
        except DagRunExists as exc:
            session.rollback()
            raise Problem(409, str(exc), slug="dag-run-exists") from None
        return _run_view(session, run)

    @get("/{run_id:str}", operation_id="GetDagRun", sync_to_thread=True)
    def get_run(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        session: NamedDependency[Session],
    ) -> DagRunView:
        visible_dag(request, session, dag_id)
        return _run_view(session, _run(session, dag_id, run_id))

    @get("/{run_id:str}/taskInstances", operation_id="ListRunTaskInstances", sync_to_thread=True)
    def task_instances(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        session: NamedDependency[Session],
    ) -> TaskInstanceList:
        visible_dag(request, session, dag_id)
        run = _run(session, dag_id, run_id)
        rows = session.scalars(
            select(TaskInstance)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
            .order_by(TaskInstance.task_id, TaskInstance.map_index)
        ).all()
        return TaskInstanceList(
            dag_id=dag_id,
            run_id=run_id,
            run_state=run.state,
            task_instances=[_ti_view(ti) for ti in rows],
        )

    @get(
        "/{run_id:str}/taskInstances/{task_id:str}/logs/{try_number:int}",
        operation_id="GetTaskLogs",
        sync_to_thread=True,
    )
    def logs(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        task_id: FromPath[str],
        try_number: FromPath[int],
        session: NamedDependency[Session],
        map_index: FromQuery[int] = -1,
        cursor: FromQuery[int] = 0,
    ) -> LogPage:
        visible_dag(request, session, dag_id)
        ti = session.scalar(
            select(TaskInstance).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
                TaskInstance.map_index == map_index,
            )
        )
        if ti is None:
            raise Problem(
                404,
                f"task {task_id!r} (map index {map_index}) not found in run {run_id!r}",
                slug="task-instance-not-found",
            )
        chunks = session.execute(
            select(LogChunk.id, LogChunk.lines)
            .where(
                LogChunk.task_instance_id == ti.id,
                LogChunk.try_number == try_number,
                LogChunk.id > cursor,
            )
            .order_by(LogChunk.id)
            .limit(LOG_PAGE_CHUNKS)
        ).all()
        lines = [line for _, text in chunks for line in text.split("\n")]
        next_cursor = chunks[-1][0] if chunks else cursor
        finished = try_number < ti.try_number or (
            ti.state in TERMINAL_TASK_STATES or ti.state is TaskInstanceState.UP_FOR_RETRY
        )
        return LogPage(
            task_id=task_id,
            try_number=try_number,
            lines=lines,
            next_cursor=next_cursor,
            complete=finished and len(chunks) < LOG_PAGE_CHUNKS,
        )


def _run(session: Session, dag_id: str, run_id: str) -> DagRun:
    run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if run is None:
        raise Problem(404, f"DAG run {run_id!r} of {dag_id!r} not found", slug="dag-run-not-found")
    return run


def _run_view(session: Session, run: DagRun) -> DagRunView:
    version = session.get(DagVersion, run.dag_version_id)
    return DagRunView(
        dag_id=run.dag_id,
        run_id=run.run_id,
        state=run.state,
        run_type=str(run.run_type),
        dag_version_id=run.dag_version_id,
        dag_version_number=version.version_number if version else None,
        logical_date=run.logical_date,
        data_interval_start=run.data_interval_start,
        data_interval_end=run.data_interval_end,
        run_after=run.run_after,
        queued_at=run.queued_at,
        start_date=run.start_date,
        end_date=run.end_date,
        conf=dict(run.conf or {}),
        note=run.note,
        triggered_by=run.triggered_by,
    )


def _ti_view(ti: TaskInstance) -> TaskInstanceView:
    return TaskInstanceView(
        id=ti.id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        state=ti.state,
        try_number=ti.try_number,
        max_tries=ti.max_tries,
        operator=ti.operator,
        queued_at=ti.queued_at,
        start_date=ti.start_date,
        end_date=ti.end_date,
        duration=ti.duration,
        hostname=ti.hostname,
    )
