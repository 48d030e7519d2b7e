"""Variables and connections as user code receives them (Internal and Execution APIs).

These carry secrets in clear over TLS to an authenticated caller that may read them; at rest
the server keeps them encrypted.
"""

from __future__ import annotations

import msgspec

#: What a secret is shown as.
MASK = "***"
#: Words in a key (a variable's name, a connection extra's field) that mark its value as secret
#: (Airflow's list): the worker masks such values in task logs, the Web API in what it shows.
SENSITIVE_WORDS = (
    "access_token",
    "api_key",
    "apikey",
    "authorization",
    "passphrase",
    "passwd",
    "password",
    "private_key",
    "secret",
    "token",
    "keyfile_dict",
    "service_account",
)


def is_sensitive(name: str) -> bool:
    """Whether a value under ``name`` is to be treated as a secret."""
    lowered = name.lower()
    return any(word in lowered for word in SENSITIVE_WORDS)


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
