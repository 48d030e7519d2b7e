"""Connections: how tasks reach external systems. Viewers read, admins write.

The password and the extra are encrypted at rest and never returned: an answer says ``***`` where
one is set. Tasks read them in clear through the Execution API only.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of, require_user_role
from airlock.core.tokens import UserRole
from airlock.db import Connection, SecretBox
from airlock.models.secrets import MASK
from airlock.models.web_connections import (
    ConnectionCollection,
    ConnectionCreate,
    ConnectionPatch,
    ConnectionView,
)
from airlock.web.listing import Offset, Sorting, page_of
from airlock.web.secrets_access import check_writable, may_read

CONNECTION_SORT = Sorting(
    {
        "connection_id": Connection.conn_id,
        "conn_type": Connection.conn_type,
        "host": Connection.host,
        "bundle_name": Connection.bundle_name,
    },
    default="connection_id",
)


class ConnectionController(Controller):
    path = "/connections"
    tags = ["connections"]
    guards = [require_user_role(UserRole.VIEWER)]

    @get("/", operation_id="ListConnections", sync_to_thread=True)
    def list_connections(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[Session],
        connection_id_pattern: FromQuery[str | None] = None,
        conn_type: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        offset: Offset = None,
        order_by: FromQuery[str | None] = None,
    ) -> ConnectionCollection:
        order = CONNECTION_SORT.parse(order_by)
        query = select(Connection)
        bundles = claims_of(request).bundles
        if bundles is not None:
            query = query.where(
                or_(Connection.bundle_name.is_(None), Connection.bundle_name.in_(bundles))
            )
        if connection_id_pattern:
            query = query.where(Connection.conn_id.contains(connection_id_pattern, autoescape=True))
        if conn_type:
            query = query.where(Connection.conn_type == conn_type)
        rows, total = page_of(session, query, order, limit, offset)
        return ConnectionCollection(connections=[_view(c) for c in rows], total_entries=total)

    @get("/{connection_id:str}", operation_id="GetConnection", sync_to_thread=True)
    def get_connection(
        self,
        request: Request[Any, Any, Any],
        connection_id: FromPath[str],
        session: NamedDependency[Session],
    ) -> ConnectionView:
        return _view(_find(request, session, connection_id))

    @post(
        "/",
        operation_id="CreateConnection",
        guards=[require_user_role(UserRole.ADMIN)],
        sync_to_thread=True,
        status_code=201,
    )
    def create_connection(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ConnectionCreate],
        session: NamedDependency[Session],
        secret_box: NamedDependency[SecretBox],
    ) -> ConnectionView:
        _check_extra(data.extra)
        check_writable(request, data.bundle_name, "connection")
        if session.get(Connection, data.connection_id) is not None:
            raise Problem(
                409,
                f"connection {data.connection_id!r} exists; change it with PATCH",
                slug="connection-exists",
            )
        row = Connection(
            conn_id=data.connection_id,
            conn_type=data.conn_type,
            host=data.host,
            schema=data.schema,
            login=data.login,
            port=data.port,
            description=data.description,
            bundle_name=data.bundle_name,
        )
        row.set_password(data.password, secret_box)
        row.set_extra(data.extra, secret_box)
        session.add(row)
        session.commit()
        return _view(row)

    @patch(
        "/{connection_id:str}",
        operation_id="PatchConnection",
        guards=[require_user_role(UserRole.ADMIN)],
        sync_to_thread=True,
    )
    def patch_connection(
        self,
        request: Request[Any, Any, Any],
        connection_id: FromPath[str],
        data: JSONBody[ConnectionPatch],
        session: NamedDependency[Session],
        secret_box: NamedDependency[SecretBox],
    ) -> ConnectionView:
        row = _find(request, session, connection_id)
        check_writable(request, row.bundle_name, "connection")
        _check_extra(data.extra)
        if data.conn_type:
            row.conn_type = data.conn_type
        for name in ("host", "schema", "login", "description"):
            value = getattr(data, name)
            if value is not None:
                setattr(row, name, value or None)
        if data.port is not None:
            row.port = data.port
        if data.password is not None:
            row.set_password(data.password or None, secret_box)
        if data.extra is not None:
            row.set_extra(data.extra or None, secret_box)
        session.commit()
        return _view(row)

    @delete(
        "/{connection_id:str}",
        operation_id="DeleteConnection",
        guards=[require_user_role(UserRole.ADMIN)],
        sync_to_thread=True,
    )
    def delete_connection(
        self,
        request: Request[Any, Any, Any],
        connection_id: FromPath[str],
        session: NamedDependency[Session],
    ) -> None:
        row = _find(request, session, connection_id)
        check_writable(request, row.bundle_name, "connection")
        session.delete(row)
        session.commit()


def _check_extra(extra: str | None) -> None:
    if not extra:
        return
    try:
        parsed = msgspec.json.decode(extra)
    except msgspec.DecodeError as exc:
        raise Problem(422, f"extra must be a JSON object: {exc}", slug="bad-extra") from None
    if not isinstance(parsed, dict):
        raise Problem(422, 'extra must be a JSON object, e.g. {"timeout": 5}', slug="bad-extra")


def _find(request: Request[Any, Any, Any], session: Session, conn_id: str) -> Connection:
    row = session.get(Connection, conn_id)
    if row is None or not may_read(request, row.bundle_name):
        raise Problem(404, f"connection {conn_id!r} not found", slug="connection-not-found")
    return row


def _view(row: Connection) -> ConnectionView:
    return ConnectionView(
        connection_id=row.conn_id,
        conn_type=row.conn_type,
        host=row.host,
        schema=row.schema,
        login=row.login,
        password=MASK if row.password_encrypted is not None else None,
        port=row.port,
        extra=MASK if row.extra_encrypted is not None else None,
        description=row.description,
        bundle_name=row.bundle_name,
    )
