"""Who may touch what on the Execution API (DESIGN §5, §8).

- A task token writes only its own task instance: the ``{ti_id}`` in the path must be the token's
  subject, else 403.
- A task token writes only while its try runs (:func:`check_open_try`).
- A task token reads only its own bundle's data. Anything of another bundle answers exactly as if
  it did not exist (404), so the existence of another team's DAG, variable or connection never
  leaks.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import PathParameter
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of
from airlock.core.tokens import TokenKind
from airlock.db import Dag, TaskInstance
from airlock.db.base import ID_LENGTH
from airlock.models.states import TaskInstanceState
from airlock.models.task_try import TaskTry
from airlock.scheduling.tries import check_try

#: Path segments that name DB identifiers: longer ones are a 400, not a DB error.
Ident = Annotated[str, PathParameter(min_length=1, max_length=ID_LENGTH)]
XComKey = Annotated[str, PathParameter(min_length=1, max_length=512)]


async def own_task_instance(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: a task token, used on the task instance it was issued for."""
    claims = claims_of(connection)
    if claims.kind is not TokenKind.TASK:
        raise Problem(
            403,
            f"a {claims.kind} token may not call this endpoint; it needs the task token of the "
            "workload",
            slug="forbidden-token-kind",
        )
    ti_id = connection.path_params.get("ti_id")
    if ti_id != claims.sub:
        raise Problem(
            403,
            f"this task token is bound to task instance {claims.sub}, not {ti_id}",
            slug="forbidden-task-instance",
        )


def token_bundle(request: Request[Any, Any, Any]) -> str:
    claims = claims_of(request)
    if not claims.bundle:
        raise Problem(
            403, "this task token names no bundle; it reads no bundle's data", slug="no-bundle"
        )
    return claims.bundle


def bundle_dag(session: Session, bundle: str, dag_id: str) -> Dag:
    """The DAG ``dag_id`` if it belongs to ``bundle``; 404 otherwise, whoever owns it."""
    dag = session.scalar(select(Dag).where(Dag.dag_id == dag_id, Dag.bundle_name == bundle))
    if dag is None:
        raise Problem(
            404, f"DAG {dag_id!r} does not exist in bundle {bundle!r}", slug="dag-not-found"
        )
    return dag


#: How long after its try ended a task token may still ship log lines: the runner sends its last
#: batch right after reporting the end, and retries it while the API is briefly unreachable.
LOG_FLUSH_GRACE_S = 120.0


def check_open_try(
    session: Session, ti_id: str, try_number: int | None, *, for_logs: bool = False
) -> TaskInstance:
    """The task instance, if the try ``try_number`` (the task token's) is still running; 409
    otherwise, naming the try and the state found.

    A task token outlives its try by minutes: without this, a finished (or cleared and re-run)
    task's token could still overwrite XComs or write into a try that is not its own. Logs are
    accepted a little longer (:data:`LOG_FLUSH_GRACE_S` after the try's end, and while the try
    is deferred) and before the start, since a runner may log while the task is loading.
    """
    ti = session.get(TaskInstance, ti_id)
    if ti is None:
        raise Problem(404, f"task instance {ti_id} does not exist", slug="ti-not-found")
    token_try = TaskTry(ti_id, try_number)
    if ti.state is TaskInstanceState.RUNNING and check_try(ti.try_number, token_try):
        return ti
    if for_logs:
        starting = ti.state is TaskInstanceState.QUEUED and (
            try_number is None or try_number in (ti.try_number, ti.try_number + 1)
        )
        # A deferred try goes on later (its end has no end_date): its last lines are its own.
        paused = ti.state is TaskInstanceState.DEFERRED and check_try(ti.try_number, token_try)
        # A state set without an end (by hand, say) counts from the try's last sign of life.
        last = ti.end_date or ti.last_heartbeat_at
        ended = last is not None and dt.datetime.now(dt.UTC) - last.astimezone(
            dt.UTC
        ) <= dt.timedelta(seconds=LOG_FLUSH_GRACE_S)
        if starting or paused or (ended and check_try(ti.try_number, token_try)):
            return ti
    session.rollback()
    raise Problem(
        409,
        f"try {try_number if try_number is not None else ti.try_number} of task instance "
        f"{ti_id} is not running (the task instance is {ti.state or 'without state'} on try "
        f"{ti.try_number}); its token writes nothing more",
        slug="try-not-running",
        extra={"current_state": ti.state},
    )
