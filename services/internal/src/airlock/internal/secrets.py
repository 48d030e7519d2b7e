"""Variables and connections for DAG files that read them at parse time.

A caller sees a variable or connection only if it is global (no bundle) or belongs to a bundle
its token names; anything else is a 404, so the existence of another team's secret never leaks.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.orm import Session

from airlock.core.http import Problem, require_service_role
from airlock.core.tokens import ServiceRole
from airlock.db import SecretBox
from airlock.db.secret_reads import read_connection, read_variable
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
        secret_box: NamedDependency[SecretBox],
    ) -> VariableValue:
        ensure_bundle_access(request, bundle)
        variable = read_variable(session, key, bundle, secret_box)
        if variable is None:
            raise Problem(
                404,
                f"variable {key!r} does not exist for bundle {bundle!r}",
                slug="variable-not-found",
            )
        return variable

    @get("/connections/{conn_id:str}", operation_id="GetConnection", sync_to_thread=True)
    def get_connection(
        self,
        request: Request[Any, Any, Any],
        bundle: FromPath[str],
        conn_id: FromPath[str],
        session: NamedDependency[Session],
        secret_box: NamedDependency[SecretBox],
    ) -> ConnectionInfo:
        ensure_bundle_access(request, bundle)
        connection = read_connection(session, conn_id, bundle, secret_box)
        if connection is None:
            raise Problem(
                404,
                f"connection {conn_id!r} does not exist for bundle {bundle!r}",
                slug="connection-not-found",
            )
        return connection
