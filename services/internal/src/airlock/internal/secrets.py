"""Variables and connections for DAG files that read them at parse time.

A caller sees a variable or connection only if it is global (no bundle) or belongs to a bundle
its token names; anything else is a 404, so the existence of another team's secret never leaks.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.orm import Session

from airlock.core.http import Problem, require_service_role
from airlock.core.tokens import ServiceRole
from airlock.db import Connection, SecretBox, Variable
from airlock.internal.bundles import ensure_bundle_access
from airlock.models.secrets import ConnectionInfo, VariableValue


class SecretsController(Controller):
    path = "/bundles/{bundle:str}"
    tags = ["secrets"]
    guards = [
        require_service_role(
            ServiceRole.DAG_PROCESSOR, ServiceRole.TRIGGERER, ServiceRole.CALLBACK_PROCESSOR
        )
    ]

    @get("/variables/{key:str}", operation_id="GetVariable", sync_to_thread=True)
    def get_variable(
        self,
        request: Request[Any, Any, Any],
        bundle: FromPath[str],
        key: FromPath[str],
        session: NamedDependency[Session],
        state: State,
    ) -> VariableValue:
        ensure_bundle_access(request, bundle)
        row = session.get(Variable, key)
        if row is None or row.bundle_name not in (None, bundle):
            raise Problem(
                404,
                f"variable {key!r} does not exist for bundle {bundle!r}",
                slug="variable-not-found",
            )
        box: SecretBox = state["secret_box"]
        return VariableValue(key=key, value=row.get_value(box))

    @get("/connections/{conn_id:str}", operation_id="GetConnection", sync_to_thread=True)
    def get_connection(
        self,
        request: Request[Any, Any, Any],
        bundle: FromPath[str],
        conn_id: FromPath[str],
        session: NamedDependency[Session],
        state: State,
    ) -> ConnectionInfo:
        ensure_bundle_access(request, bundle)
        row = session.get(Connection, conn_id)
        if row is None or row.bundle_name not in (None, bundle):
            raise Problem(
                404,
                f"connection {conn_id!r} does not exist for bundle {bundle!r}",
                slug="connection-not-found",
            )
        box: SecretBox = state["secret_box"]
        return ConnectionInfo(
            conn_id=row.conn_id,
            conn_type=row.conn_type,
            host=row.host,
            schema=row.schema,
            login=row.login,
            password=row.get_password(box),
            port=row.port,
            extra=row.get_extra(box),
        )
