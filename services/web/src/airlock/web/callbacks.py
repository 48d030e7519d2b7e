"""Callbacks as people see them: every callback request with its kind, state, attempts, last
error and log, per run and per task instance; the dead-letter list and an op's retry; and
metrics-ready counters of the queue (DESIGN §4.4).

A team-scoped user sees only its bundles' callbacks; another bundle's callback is 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of, require_user_role
from airlock.core.tokens import UserRole
from airlock.db import CallbackRequest
from airlock.models.callbacks import CallbackCounters, CallbackInfo, CallbackList
from airlock.scheduling.callback_queue import DEAD, QUEUED, RETRYING, RUNNING, SUCCESS, retry_dead
from airlock.web.access import visible_dag
from airlock.web.listing import Offset, Sorting, page_of

CALLBACK_SORTING = Sorting(
    {
        "id": CallbackRequest.id,
        "queued_at": CallbackRequest.created_at,
        "state": CallbackRequest.state,
        "attempts": CallbackRequest.attempts,
    },
    default="-id",
    tiebreak=[CallbackRequest.id],
)
StateFilter = Literal["queued", "running", "retrying", "success", "dead"]
Limit = Annotated[int | None, QueryParameter(ge=1)]


class CallbackController(Controller):
    path = "/"
    tags = ["callbacks"]
    guards = [require_user_role(UserRole.VIEWER)]

    @get("/callbacks", operation_id="ListCallbacks", sync_to_thread=True)
    def list_callbacks(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[Session],
        states: Annotated[list[StateFilter] | None, QueryParameter(name="state")] = None,
        dag_id: FromQuery[str | None] = None,
        limit: Limit = None,
        offset: Offset = None,
        order_by: FromQuery[str | None] = None,
    ) -> CallbackList:
        """Callbacks of every DAG you may see, newest first; ``state=dead`` is the dead-letter
        list."""
        query = _visible(request, select(CallbackRequest))
        if states:
            query = query.where(CallbackRequest.state.in_(states))
        if dag_id is not None:
            query = query.where(CallbackRequest.dag_id == dag_id)
        rows, total = page_of(session, query, CALLBACK_SORTING.parse(order_by), limit, offset)
        return CallbackList(callbacks=[_info(row) for row in rows], total_entries=total)

    @get(
        "/dags/{dag_id:str}/dagRuns/{run_id:str}/callbacks",
        operation_id="ListRunCallbacks",
        sync_to_thread=True,
    )
    def run_callbacks(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        session: NamedDependency[Session],
        task_id: FromQuery[str | None] = None,
        map_index: FromQuery[int | None] = None,
    ) -> CallbackList:
        """The callbacks of one run (its own and its task instances'), oldest first; with
        ``task_id`` (and ``map_index``), of one task instance."""
        visible_dag(request, session, dag_id)
        query = select(CallbackRequest).where(
            CallbackRequest.dag_id == dag_id, CallbackRequest.run_id == run_id
        )
        if task_id is not None:
            query = query.where(CallbackRequest.task_id == task_id)
        if map_index is not None:
            query = query.where(CallbackRequest.map_index == map_index)
        rows = session.scalars(query.order_by(CallbackRequest.id)).all()
        return CallbackList(callbacks=[_info(row) for row in rows], total_entries=len(rows))

    @get("/callbacks/counters", operation_id="GetCallbackCounters", sync_to_thread=True)
    def counters(
        self, request: Request[Any, Any, Any], session: NamedDependency[Session]
    ) -> CallbackCounters:
        """How many callbacks are in each state, and the dispatch latency (queued → first
        started) of those started in the last hour."""
        by_state = dict(
            session.execute(
                _visible(
                    request,
                    select(CallbackRequest.state, func.count()).group_by(CallbackRequest.state),
                )
            ).all()
        )
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        started = session.execute(
            _visible(
                request,
                select(CallbackRequest.created_at, CallbackRequest.first_started_at).where(
                    CallbackRequest.first_started_at >= since
                ),
            ).limit(100_000)
        ).all()
        latencies = sorted((s - q).total_seconds() * 1000 for q, s in started)
        return CallbackCounters(
            queued=by_state.get(QUEUED, 0),
            running=by_state.get(RUNNING, 0),
            retrying=by_state.get(RETRYING, 0),
            succeeded=by_state.get(SUCCESS, 0),
            dead_lettered=by_state.get(DEAD, 0),
            dispatch_p50_ms=_percentile(latencies, 0.50),
            dispatch_p99_ms=_percentile(latencies, 0.99),
        )

    @post(
        "/callbacks/{callback_id:int}/retry",
        operation_id="RetryCallback",
        sync_to_thread=True,
        status_code=200,
        guards=[require_user_role(UserRole.OP)],
    )
    def retry(
        self,
        request: Request[Any, Any, Any],
        callback_id: FromPath[int],
        session: NamedDependency[Session],
    ) -> CallbackInfo:
        """Give a dead-lettered callback another round of attempts."""
        row = session.get(CallbackRequest, callback_id)
        if row is None or not claims_of(request).may_touch_bundle(row.bundle_name):
            raise Problem(404, f"callback {callback_id} not found", slug="callback-not-found")
        if row.state != DEAD:
            raise Problem(
                409,
                f"callback {callback_id} is {row.state}; only a dead-lettered callback can be "
                "retried",
                slug="callback-not-dead",
                extra={"current_state": row.state},
            )
        retry_dead(session.connection(), [callback_id])
        session.commit()
        session.refresh(row)
        return _info(row)


def _visible(request: Request[Any, Any, Any], query: Any) -> Any:
    bundles = claims_of(request).bundles
    return query if bundles is None else query.where(CallbackRequest.bundle_name.in_(bundles))


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(fraction * len(values)))], 1)


def _info(row: CallbackRequest) -> CallbackInfo:
    return CallbackInfo(
        id=row.id,
        kind=row.kind,  # type: ignore[arg-type]
        state=row.state,  # type: ignore[arg-type]
        bundle=row.bundle_name,
        dag_id=row.dag_id,
        run_id=row.run_id,
        task_id=row.task_id,
        map_index=row.map_index,
        try_number=row.try_number,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        queued_at=row.created_at,
        first_started_at=row.first_started_at,
        done_at=row.done_at,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        log=row.log,
    )
