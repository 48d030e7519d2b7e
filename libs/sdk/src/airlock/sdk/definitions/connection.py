"""Connections: credentials and endpoints of external systems, fetched through the API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from airlock.sdk.exceptions import AirlockNotFoundException
from airlock.sdk.execution_time.comms import ConnectionResult, get_comms


@dataclass
class Connection:
    """A connection; ``Connection.get(conn_id)`` fetches one."""

    conn_id: str
    conn_type: str
    description: str | None = None
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    extra: str | None = None

    @classmethod
    def get(cls, conn_id: str) -> Connection:
        result = get_comms(f"Connection.get({conn_id!r})").get_connection(conn_id)
        if result is None:
            raise AirlockNotFoundException(f"The conn_id `{conn_id}` isn't defined")
        return cls.from_result(result)

    @classmethod
    def from_result(cls, result: ConnectionResult) -> Connection:
        return cls(
            conn_id=result.conn_id,
            conn_type=result.conn_type,
            description=result.description,
            host=result.host,
            schema=result.schema,
            login=result.login,
            password=result.password,
            port=result.port,
            extra=result.extra,
        )

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """``extra`` parsed as JSON (``{}`` when empty or not JSON)."""
        if not self.extra:
            return {}
        try:
            value = json.loads(self.extra)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def get_uri(self) -> str:
        """``type://login:password@host:port/schema?extra`` (parts percent-encoded)."""
        uri = f"{self.conn_type.replace('_', '-')}://"
        if self.login or self.password:
            uri += quote(self.login or "", safe="")
            if self.password:
                uri += ":" + quote(self.password, safe="")
            uri += "@"
        uri += quote(self.host or "", safe="")
        if self.port:
            uri += f":{self.port}"
        if self.schema:
            uri += "/" + quote(self.schema, safe="")
        extra = self.extra_dejson
        if extra:
            uri += "?" + urlencode({k: str(v) for k, v in sorted(extra.items())})
        return uri

    def __repr__(self) -> str:
        return f"Connection(conn_id={self.conn_id!r}, conn_type={self.conn_type!r})"
