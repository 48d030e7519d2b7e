"""Who may touch what on the Execution API (DESIGN §5, §8).

- A task token writes only its own task instance: the ``{ti_id}`` in the path must be the token's
  subject, else 403.
- A task token reads only its own bundle's data. Anything of another bundle answers exactly as if
  it did not exist (404), so the existence of another team's DAG, variable or connection never
  leaks.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import PathParameter
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of
from airlock.core.tokens import TokenKind
from airlock.db import Dag
from airlock.db.base import ID_LENGTH

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
