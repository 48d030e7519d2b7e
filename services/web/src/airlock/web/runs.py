"""DAG runs for people and the CLI: list, trigger, read, mark, clear, annotate and delete them.

``/dags/~/dagRuns`` lists the runs of every DAG the caller may see, as Airflow's ``~`` does.
Triggering creates the run and queues its first tasks in the same transaction
(``airlock.scheduling``), so a worker can start them at once instead of waiting for the
scheduler's next loop; clearing does the same for the cleared tasks. Marking and clearing are
``airlock.scheduling`` decisions (:mod:`airlock.scheduling.clearing`, ``marking``): rows move,
and the scheduler carries on from them.

The Web API keeps no DAG in memory between requests (issue 5): a request that needs a DAG's
structure decodes its version from the DB with a cache that lives as long as the request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.http import OFF_LOOP, Problem, claims_of, require_aware, require_user_role
from airlock.core.telemetry import caller_traceparent
from airlock.core.tokens import UserRole
from airlock.db import Dag, DagRun, DagVersion, TaskInstance
from airlock.models.states import DagRunState, DagRunType
from airlock.models.web import (
    AffectedTaskInstance,
    ClearResult,
    DagRunClear,
    DagRunCollection,
    DagRunCreate,
    DagRunPatch,
    DagRunView,
    TaskInstanceView,
)
from airlock.scheduling import (
    DagCache,
    DagNotFound,
    DagRunExists,
    DagRunNotFound,
    DagStale,
    RunChange,
    SchedulingError,
    StateConflict,
    TaskNotInDag,
    clear_task_instances,
    create_dag_run,
    create_task_instances_in_batches,
    mark_run,
    record_reasons,
    schedule_run,
    schedule_run_in_turns,
)
from airlock.web.access import visible_dag
from airlock.web.listing import Offset, Sorting, page_of

#: ``dag_id`` (or ``run_id``) meaning "every one the caller may see", as in Airflow.
ANY = "~"
#: Task instances a trigger creates per transaction on SQLite, where each transaction that writes
#: holds the one write lock (ADR 0018): about 10-20 ms of inserts.
TASK_INSTANCE_BATCH = 500

RUN_SORT = Sorting(
    {
        "id": DagRun.id,
        "dag_id": DagRun.dag_id,
        "run_id": DagRun.run_id,
        "state": DagRun.state,
        "run_type": DagRun.run_type,
        "logical_date": DagRun.logical_date,
        "run_after": DagRun.run_after,
        "queued_at": DagRun.queued_at,
        "start_date": DagRun.start_date,
        "end_date": DagRun.end_date,
    },
    default="-run_after",
    tiebreak=[DagRun.id],
)


def request_dag_cache() -> DagCache:
    """A DAG cache for one request: nothing decoded outlives it (the Web API is stateless)."""
    return DagCache(max_entries=4)


@contextmanager
def scheduling_problems(session: Session) -> Iterator[None]:
    """Roll back and answer a problem for what ``airlock.scheduling`` refuses."""
    try:
        yield
    except SchedulingError as exc:
        session.rollback()
        if isinstance(exc, DagRunNotFound | DagNotFound):
            raise Problem(404, str(exc), slug="dag-run-not-found") from None
        if isinstance(exc, TaskNotInDag):
            raise Problem(400, str(exc), slug="task-not-in-dag") from None
        if isinstance(exc, DagRunExists):
            raise Problem(409, str(exc), slug="dag-run-exists") from None
        if isinstance(exc, DagStale | StateConflict):
            raise Problem(409, str(exc), slug="state-conflict") from None
        raise Problem(409, str(exc), slug="scheduling-refused") from None
    except ValueError as exc:
        session.rollback()
        raise Problem(400, str(exc), slug="bad-value") from None


def visible_bundles(request: Request[Any, Any, Any]) -> list[str] | None:
    """The bundles the caller is limited to, or None for all."""
    return claims_of(request).bundles


def scope_to_dags(request: Request[Any, Any, Any], session: Session, dag_id: str) -> Any:
    """A WHERE clause on a ``dag_id`` column: one visible DAG (404 otherwise), or ``~``: every
    DAG of the caller's bundles."""
    if dag_id != ANY:
        visible_dag(request, session, dag_id)
        return None
    bundles = visible_bundles(request)
    if bundles is None:
        return None
    return select(Dag.dag_id).where(Dag.bundle_name.in_(bundles))


class DagRunController(Controller):
    path = "/dags/{dag_id:str}/dagRuns"
    tags = ["dag runs"]
    guards = [require_user_role(UserRole.VIEWER)]

    @get("/", operation_id="ListDagRuns", sync_to_thread=True)
    def list_runs(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        session: NamedDependency[Session],
        run_states: Annotated[list[DagRunState] | None, QueryParameter(name="state")] = None,
        run_type: FromQuery[list[DagRunType] | None] = None,
        logical_date_gte: FromQuery[dt.datetime | None] = None,
        logical_date_lte: FromQuery[dt.datetime | None] = None,
        start_date_gte: FromQuery[dt.datetime | None] = None,
        start_date_lte: FromQuery[dt.datetime | None] = None,
        end_date_gte: FromQuery[dt.datetime | None] = None,
        end_date_lte: FromQuery[dt.datetime | None] = None,
        run_after_gte: FromQuery[dt.datetime | None] = None,
        run_after_lte: FromQuery[dt.datetime | None] = None,
        limit: FromQuery[int | None] = None,
        offset: Offset = None,
        order_by: FromQuery[str | None] = None,
    ) -> DagRunCollection:
        """Runs of one DAG, or of every DAG the caller may see (``dag_id`` ``~``)."""
        order = RUN_SORT.parse(order_by)
        query = select(DagRun, DagVersion.version_number).outerjoin(
            DagVersion, DagVersion.id == DagRun.dag_version_id
        )
        scope = scope_to_dags(request, session, dag_id)
        if dag_id != ANY:
            query = query.where(DagRun.dag_id == dag_id)
        elif scope is not None:
            query = query.where(DagRun.dag_id.in_(scope))
        if run_states:
            query = query.where(DagRun.state.in_(run_states))
        if run_type:
            query = query.where(DagRun.run_type.in_(run_type))
        ranges = [
            (DagRun.logical_date, logical_date_gte, logical_date_lte, "logical_date"),
            (DagRun.start_date, start_date_gte, start_date_lte, "start_date"),
            (DagRun.end_date, end_date_gte, end_date_lte, "end_date"),
            (DagRun.run_after, run_after_gte, run_after_lte, "run_after"),
        ]
        for column, low, high, name in ranges:
            if require_aware(low, f"{name}_gte") is not None:
                query = query.where(column >= low)
            if require_aware(high, f"{name}_lte") is not None:
                query = query.where(column <= high)
        rows, total = page_of(session, query, order, limit, offset)
        return DagRunCollection(
            dag_runs=[run_view(run, number) for run, number in rows], total_entries=total
        )

    @post(
        "/",
        operation_id="TriggerDagRun",
        guards=[require_user_role(UserRole.OP)],
        sync_to_thread=True,
        opt=OFF_LOOP,  # a run of a big DAG creates up to [internal] max_dag_tasks rows
        status_code=201,
    )
    def trigger(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        data: JSONBody[DagRunCreate],
        session: NamedDependency[Session],
    ) -> DagRunView:
        dag = visible_dag(request, session, dag_id)
        if dag.is_stale or dag.latest_version_id is None:
            raise Problem(
                409,
                f"DAG {dag_id!r} is no longer in its bundle; it cannot be triggered",
                slug="dag-stale",
            )
        cache = request_dag_cache()
        now = dt.datetime.now(dt.UTC)
        with scheduling_problems(session):
            # Decoded before the first write: on SQLite, other writers wait while this one holds
            # the write lock, so it is taken only for the inserts and for the first pass's
            # writes, in short transactions.
            graph = cache.graph(session, dag.latest_version_id)
            in_batches = (
                session.get_bind().dialect.name == "sqlite"
                and len(graph.tasks) > TASK_INSTANCE_BATCH
            )
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
                trace_parent=caller_traceparent(request.headers),
                dag_cache=cache,
                task_instances=not in_batches,
            )
            session.commit()
            if in_batches:
                create_task_instances_in_batches(
                    session, run, cache, now, batch=TASK_INSTANCE_BATCH
                )
                schedule_run_in_turns(session, run, cache, now, turn=TASK_INSTANCE_BATCH)
            else:
                schedule_run(session, run, cache, now)
            session.commit()
        return load_run_view(session, run)

    @get("/{run_id:str}", operation_id="GetDagRun", sync_to_thread=True)
    def get_run(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        session: NamedDependency[Session],
    ) -> DagRunView:
        visible_dag(request, session, dag_id)
        return load_run_view(session, find_run(session, dag_id, run_id))

    @patch(
        "/{run_id:str}",
        operation_id="PatchDagRun",
        guards=[require_user_role(UserRole.OP)],
        sync_to_thread=True,
    )
    def patch_run(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        data: JSONBody[DagRunPatch],
        session: NamedDependency[Session],
    ) -> DagRunView:
        """Mark the run ``success`` or ``failed`` (its unfinished tasks follow), and/or set its
        note."""
        visible_dag(request, session, dag_id)
        run = find_run(session, dag_id, run_id)
        if data.state is None and data.note is None:
            raise Problem(400, "nothing to change: send state and/or note", slug="empty-patch")
        with scheduling_problems(session):
            if data.state is not None:
                now = dt.datetime.now(dt.UTC)
                change = mark_run(
                    session, dag_id, run_id, data.state, now, dag_cache=request_dag_cache()
                )
                who = claims_of(request).sub
                record_person(session, change, f"its run was marked {data.state} by {who}", now)
                run = change.run
            if data.note is not None:
                run.note = data.note or None
            session.commit()
        return load_run_view(session, run)

    @post(
        "/{run_id:str}/clear",
        operation_id="ClearDagRun",
        guards=[require_user_role(UserRole.OP)],
        sync_to_thread=True,
        opt=OFF_LOOP,
        status_code=200,
    )
    def clear(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        data: JSONBody[DagRunClear],
        session: NamedDependency[Session],
    ) -> ClearResult:
        """Clear the run's task instances (only the failed ones with ``only_failed``) so they
        run again; with ``dry_run`` (the default) only say which would be cleared."""
        visible_dag(request, session, dag_id)
        cache = request_dag_cache()
        now = dt.datetime.now(dt.UTC)
        with scheduling_problems(session):
            change = clear_task_instances(
                session,
                dag_id,
                run_id,
                cache,
                now,
                only_failed=data.only_failed,
                dry_run=data.dry_run,
            )
            if not data.dry_run:
                who = claims_of(request).sub
                record_person(session, change, f"its run was cleared by {who}", now)
            return finish_clear(session, change, cache, now, dry_run=data.dry_run)

    @delete(
        "/{run_id:str}",
        operation_id="DeleteDagRun",
        guards=[require_user_role(UserRole.OP)],
        sync_to_thread=True,
    )
    def delete_run(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        session: NamedDependency[Session],
    ) -> None:
        """Delete the run with its task instances, their tries, logs and XComs."""
        visible_dag(request, session, dag_id)
        session.delete(find_run(session, dag_id, run_id))
        session.commit()


def record_person(session: Session, change: RunChange, reason: str, now: dt.datetime) -> None:
    """Record on each instance a person changed, its try and its log, who did it and how."""
    ids = [ti.id for ti in change.task_instances]
    if not ids:
        return
    tries = session.execute(
        select(TaskInstance.id, TaskInstance.try_number).where(TaskInstance.id.in_(ids))
    ).all()
    record_reasons(session, [(ti_id, number) for ti_id, number in tries], reason, now)


def finish_clear(
    session: Session, change: RunChange, cache: DagCache, now: dt.datetime, *, dry_run: bool
) -> ClearResult:
    """Queue what the clear made ready (same transaction), commit, and describe it."""
    if not dry_run:
        schedule_run(session, change.run, cache, now)
        session.commit()
    else:
        session.rollback()
    refs = [
        AffectedTaskInstance(
            dag_id=change.run.dag_id,
            run_id=change.run.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index,
            state=ti.state,
        )
        for ti in change.task_instances
    ]
    return ClearResult(
        dry_run=dry_run,
        task_instances=refs,
        total_entries=len(refs),
        dag_run=load_run_view(session, find_run(session, change.run.dag_id, change.run.run_id)),
    )


def find_run(session: Session, dag_id: str, run_id: str) -> DagRun:
    run = session.scalar(
        select(DagRun)
        .where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        .execution_options(populate_existing=True)
    )
    if run is None:
        raise Problem(404, f"DAG run {run_id!r} of {dag_id!r} not found", slug="dag-run-not-found")
    return run


def load_run_view(session: Session, run: DagRun) -> DagRunView:
    session.refresh(run)
    number = session.scalar(
        select(DagVersion.version_number).where(DagVersion.id == run.dag_version_id)
    )
    return run_view(run, number)


def run_view(run: DagRun, version_number: int | None) -> DagRunView:
    return DagRunView(
        dag_id=run.dag_id,
        run_id=run.run_id,
        state=run.state,
        run_type=str(run.run_type),
        dag_version_id=run.dag_version_id,
        dag_version_number=version_number,
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


def ti_view(ti: TaskInstance) -> TaskInstanceView:
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
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        pool=ti.pool,
        pool_slots=ti.pool_slots,
        queue=ti.queue,
        priority_weight=ti.priority_weight,
        dag_version_id=ti.dag_version_id,
        state_reason=ti.state_reason,
    )
