"""Who may see what: a team-scoped user sees only its bundles' DAGs. A DAG outside the user's
bundles answers 404, exactly like a DAG that does not exist, so its existence never leaks."""

from __future__ import annotations

from typing import Any

from litestar import Request
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of
from airlock.db import Dag


def visible_dag(request: Request[Any, Any, Any], session: Session, dag_id: str) -> Dag:
    # No DAG id holds a NUL character (and PostgreSQL refuses to compare one).
    dag = None if "\x00" in dag_id else session.get(Dag, dag_id)
    if dag is None or not claims_of(request).may_touch_bundle(dag.bundle_name):
        raise Problem(404, f"DAG {dag_id!r} not found", slug="dag-not-found")
    return dag
