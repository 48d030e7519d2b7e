"""Variables and connections as user code receives them (Internal and Execution APIs).

These carry secrets in clear over TLS to an authenticated caller that may read them; at rest
the server keeps them encrypted.
"""

from __future__ import annotations

import msgspec


class VariableValue(msgspec.Struct, kw_only=True, frozen=True):
    key: str
    value: str


class ConnectionInfo(msgspec.Struct, kw_only=True, frozen=True):
    conn_id: str
    conn_type: str
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    #: JSON text, as Airflow keeps it.
    extra: str | None = None
