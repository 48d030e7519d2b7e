"""``GET /execution/connections/{conn_id}``: a connection of the task's bundle or a global one,
decrypted for the task that needs it. Another bundle's connection is a 404, as a missing one."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from sqlalchemy.orm import Session

from airlock.core.http import Problem, require_kind
from airlock.core.tokens import TokenKind
from airlock.db import SecretBox
from airlock.db.secret_reads import read_connection
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
    secret_box: NamedDependency[SecretBox],
) -> ConnectionInfo:
    bundle = token_bundle(request)
    connection = read_connection(session, conn_id, bundle, secret_box)
    if connection is None:
        raise Problem(
            404,
            f"connection {conn_id!r} does not exist for bundle {bundle!r}",
            slug="connection-not-found",
        )
    return connection
