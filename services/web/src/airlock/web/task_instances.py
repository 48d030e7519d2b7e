"""Task instances: list them (of a run, or across runs with ``~``), read one with every try, read
a try's logs, clear them so they run again, and mark their state by hand.

A try's logs are paged with a cursor: pass ``next_cursor`` back to get the lines written since,
until ``complete`` says the try is over and every line is in (``airlock tasks logs --follow``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of, require_user_role
from airlock.core.tokens import UserRole
from airlock.db import DagRun, LogChunk, TaskInstance, TaskInstanceHistory
from airlock.models.states import TERMINAL_TASK_STATES, TaskInstanceState
from airlock.models.web import (
    ClearResult,
    ClearTaskInstances,
    LogPage,
    TaskInstanceDetail,
    TaskInstanceList,
    TaskInstancePatch,
    TaskInstanceTry,
)
from airlock.scheduling import clear_task_instances, mark_task_instances
from airlock.web.access import visible_dag
from airlock.web.listing import MAX_LIMIT, Offset, Sorting, page_of
from airlock.web.runs import (
    ANY,
    find_run,
    finish_clear,
    record_person,
    request_dag_cache,
    scheduling_problems,
    scope_to_dags,
    ti_view,
)
from airlock.web.triggers import trigger_of

LOG_PAGE_CHUNKS = 200

TI_SORT = Sorting(
    {
        "dag_id": TaskInstance.dag_id,
        "run_id": TaskInstance.run_id,
        "task_id": TaskInstance.task_id,
        "map_index": TaskInstance.map_index,
        "state": TaskInstance.state,
        "try_number": TaskInstance.try_number,
        "pool": TaskInstance.pool,
        "queue": TaskInstance.queue,
        "priority_weight": TaskInstance.priority_weight,
        "queued_at": TaskInstance.queued_at,
        "start_date": TaskInstance.start_date,
        "end_date": TaskInstance.end_date,
        "duration": TaskInstance.duration,
    },
    default="task_id",
    tiebreak=[TaskInstance.map_index, TaskInstance.id],
)


class TaskInstanceController(Controller):
    path = "/dags/{dag_id:str}/dagRuns/{run_id:str}/taskInstances"
    tags = ["task instances"]
    guards = [require_user_role(UserRole.VIEWER)]

    @get("/", operation_id="ListTaskInstances", sync_to_thread=True)
    def list_task_instances(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        session: NamedDependency[Session],
        ti_states: Annotated[list[TaskInstanceState] | None, QueryParameter(name="state")] = None,
        task_id: FromQuery[str | None] = None,
        pool: FromQuery[list[str] | None] = None,
        queue: FromQuery[list[str] | None] = None,
        limit: FromQuery[int | None] = None,
        offset: Offset = None,
        order_by: FromQuery[str | None] = None,
    ) -> TaskInstanceList:
        """Task instances of a run; ``~`` for ``run_id`` (and ``dag_id``) lists across runs.

        One run's list comes whole (up to the page cap) unless ``limit`` says otherwise, so a
        client following a run sees every task in one call; lists across runs page by 50.
        """
        order = TI_SORT.parse(order_by)
        if limit is None and run_id != ANY:
            limit = MAX_LIMIT
        scope = scope_to_dags(request, session, dag_id)
        query = select(TaskInstance)
        if dag_id != ANY:
            query = query.where(TaskInstance.dag_id == dag_id)
        elif scope is not None:
            query = query.where(TaskInstance.dag_id.in_(scope))
        run_state = None
        if run_id != ANY:
            if dag_id == ANY:
                query = query.where(TaskInstance.run_id == run_id)
            else:
                run_state = find_run(session, dag_id, run_id).state
                query = query.where(TaskInstance.run_id == run_id)
        if ti_states:
            query = query.where(TaskInstance.state.in_(ti_states))
        if task_id is not None:
            query = query.where(TaskInstance.task_id == task_id)
        if pool:
            query = query.where(TaskInstance.pool.in_(pool))
        if queue:
            query = query.where(TaskInstance.queue.in_(queue))
        rows, total = page_of(session, query, order, limit, offset)
        return TaskInstanceList(
            dag_id=dag_id,
            run_id=run_id,
            run_state=run_state,
            task_instances=[ti_view(ti) for ti in rows],
            total_entries=total,
        )

    @get("/{task_id:str}", operation_id="GetTaskInstance", sync_to_thread=True)
    def get_task_instance(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        task_id: FromPath[str],
        session: NamedDependency[Session],
        map_index: FromQuery[int] = -1,
    ) -> TaskInstanceDetail:
        """One task instance with every try: finished tries from the history, then the try in
        progress (if any)."""
        visible_dag(request, session, dag_id)
        ti = find_task_instance(session, dag_id, run_id, task_id, map_index)
        history = session.scalars(
            select(TaskInstanceHistory)
            .where(TaskInstanceHistory.task_instance_id == ti.id)
            .order_by(TaskInstanceHistory.try_number)
        ).all()
        tries = [
            TaskInstanceTry(
                try_number=h.try_number,
                state=h.state,
                start_date=h.start_date,
                end_date=h.end_date,
                duration=h.duration,
                hostname=h.hostname,
                dag_version_id=h.dag_version_id,
                state_reason=h.state_reason,
            )
            for h in history
        ]
        recorded = {t.try_number for t in tries}
        if ti.try_number > 0 and ti.try_number not in recorded:
            tries.append(
                TaskInstanceTry(
                    try_number=ti.try_number,
                    state=ti.state,
                    start_date=ti.start_date,
                    end_date=ti.end_date,
                    duration=ti.duration,
                    hostname=ti.hostname,
                    dag_version_id=ti.dag_version_id,
                    state_reason=ti.state_reason,
                )
            )
        trigger = trigger_of(session, ti) if ti.state is TaskInstanceState.DEFERRED else None
        return TaskInstanceDetail(task_instance=ti_view(ti), tries=tries, trigger=trigger)

    @patch(
        "/{task_id:str}",
        operation_id="PatchTaskInstance",
        guards=[require_user_role(UserRole.OP)],
        sync_to_thread=True,
    )
    def mark(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        task_id: FromPath[str],
        data: JSONBody[TaskInstancePatch],
        session: NamedDependency[Session],
        map_index: FromQuery[int | None] = None,
    ) -> ClearResult:
        """Mark the task instance (every map index unless ``map_index`` is given) ``success``,
        ``failed`` or ``skipped``, and on request its up- or downstream tasks too."""
        visible_dag(request, session, dag_id)
        find_run(session, dag_id, run_id)
        cache = request_dag_cache()
        now = dt.datetime.now(dt.UTC)
        with scheduling_problems(session):
            change = mark_task_instances(
                session,
                dag_id,
                run_id,
                data.new_state,
                cache,
                now,
                task_ids=[task_id],
                map_indexes=None if map_index is None else [map_index],
                upstream=data.include_upstream,
                downstream=data.include_downstream,
                dry_run=data.dry_run,
            )
            if not data.dry_run:
                who = claims_of(request).sub
                record_person(session, change, f"marked {data.new_state} by {who}", now)
            return finish_clear(session, change, cache, now, dry_run=data.dry_run)

    @get(
        "/{task_id:str}/logs/{try_number:int}",
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
        ti = find_task_instance(session, dag_id, run_id, task_id, map_index)
        if try_number < 1:
            raise Problem(400, f"try numbers start at 1, not {try_number}", slug="bad-try-number")
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


class ClearTaskInstancesController(Controller):
    path = "/dags/{dag_id:str}/clearTaskInstances"
    tags = ["task instances"]
    guards = [require_user_role(UserRole.OP)]

    @post("/", operation_id="ClearTaskInstances", sync_to_thread=True, status_code=200)
    def clear(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        data: JSONBody[ClearTaskInstances],
        session: NamedDependency[Session],
    ) -> ClearResult:
        """Clear tasks of a run (with their upstream/downstream tasks on request) so they run
        again; ``dry_run`` (the default, as in Airflow) only lists what would be cleared."""
        visible_dag(request, session, dag_id)
        find_run(session, dag_id, data.dag_run_id)
        cache = request_dag_cache()
        now = dt.datetime.now(dt.UTC)
        with scheduling_problems(session):
            change = clear_task_instances(
                session,
                dag_id,
                data.dag_run_id,
                cache,
                now,
                task_ids=data.task_ids or None,
                map_indexes=data.map_indexes,
                upstream=data.include_upstream,
                downstream=data.include_downstream,
                only_failed=data.only_failed,
                dry_run=data.dry_run,
            )
            if not data.dry_run:
                record_person(session, change, f"cleared by {claims_of(request).sub}", now)
            return finish_clear(session, change, cache, now, dry_run=data.dry_run)


def find_task_instance(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int
) -> TaskInstance:
    ti = session.scalar(
        select(TaskInstance).where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run_id,
            TaskInstance.task_id == task_id,
            TaskInstance.map_index == map_index,
        )
    )
    if ti is None:
        exists = session.scalar(
            select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        )
        where = f"run {run_id!r}" if exists else f"DAG {dag_id!r}: it has no run {run_id!r}"
        raise Problem(
            404,
            f"task {task_id!r} (map index {map_index}) not found in {where}",
            slug="task-instance-not-found",
        )
    return ti
