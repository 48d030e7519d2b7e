"""``GET /execution/connections/{conn_id}``: a connection of the task's bundle or a global one,
decrypted for the task that needs it. Another bundle's connection is a 404, as a missing one."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, require_kind
from airlock.core.tokens import TokenKind
from airlock.db import Connection, SecretBox
from airlock.execution.access import Ident, token_bundle
from airlock.models.secrets import ConnectionInfo


@get(
    "/connections/{conn_id:str}",
    operation_id="GetConnectionForTask",
    guards=[require_kind(TokenKind.TASK)],
    sync_to_thread=True,
    tags=["connections"],
)
def get_connection(
    request: Request[Any, Any, Any],
    conn_id: Ident,
    session: NamedDependency[Session],
    state: State,
) -> ConnectionInfo:
    bundle = token_bundle(request)
    row = session.scalar(
        select(Connection).where(
            Connection.conn_id == conn_id,
            or_(Connection.bundle_name.is_(None), Connection.bundle_name == bundle),
        )
    )
    if row is None:
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
