"""Who may see what: a team-scoped user sees only its bundles' DAGs. A DAG outside the user's
bundles answers 404, exactly like a DAG that does not exist, so its existence never leaks.

What reaches every team (users, pools) is changed only by an admin who is not limited to
bundles: a team-scoped admin could otherwise starve the other teams (``default_pool`` to 0
slots) or make itself an unscoped admin.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of
from airlock.core.http.auth import Guard
from airlock.db import Dag


def visible_dag(request: Request[Any, Any, Any], session: Session, dag_id: str) -> Dag:
    # No DAG id holds a NUL character (and PostgreSQL refuses to compare one).
    dag = None if "\x00" in dag_id else session.get(Dag, dag_id)
    if dag is None or not claims_of(request).may_touch_bundle(dag.bundle_name):
        raise Problem(404, f"DAG {dag_id!r} not found", slug="dag-not-found")
    return dag


def require_unscoped_admin(what: str) -> Guard:
    """Guard: the caller is not limited to bundles (put it after ``require_user_role``)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        bundles = claims_of(connection).bundles
        if bundles is not None:
            raise Problem(
                403,
                f"{what} needs an admin who is not limited to bundles (you are limited to "
                f"{', '.join(bundles)})",
                slug="forbidden-role",
            )

    return guard
