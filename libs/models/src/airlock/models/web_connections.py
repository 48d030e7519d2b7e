"""Web API payloads of connections: how tasks reach external systems.

The password and the extra are never answered: a view says ``***`` where one is set. ``extra``
is a JSON object as text, as Airflow keeps it.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

CONN_ID_MAX = 250

ConnectionId = Annotated[str, msgspec.Meta(min_length=1, max_length=CONN_ID_MAX)]
#: e.g. ``postgres``, ``http``.
ConnType = Annotated[str, msgspec.Meta(min_length=1)]


class ConnectionView(msgspec.Struct, kw_only=True, frozen=True):
    connection_id: str
    conn_type: str
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    #: ``***`` when a password is set.
    password: str | None = None
    port: int | None = None
    #: ``***`` when an extra is set.
    extra: str | None = None
    description: str | None = None
    bundle_name: str | None = None


class ConnectionCollection(msgspec.Struct, kw_only=True, frozen=True):
    connections: list[ConnectionView]
    total_entries: int


class ConnectionCreate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    connection_id: ConnectionId
    conn_type: ConnType
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    #: A JSON object as text, as Airflow keeps it.
    extra: str | None = None
    description: str | None = None
    bundle_name: str | None = None


class ConnectionPatch(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Fields to change; those left out keep their value (``""`` empties a text field)."""

    conn_type: str | None = None
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    extra: str | None = None
    description: str | None = None
