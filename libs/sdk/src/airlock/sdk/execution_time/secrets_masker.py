"""Secrets a task was handed, kept out of what people read: its log and the values it shows.

A task reads connections and variables through its supervisor (the worker), which registers every
secret it hands over here: a connection's password, the values of its extra under keys that name
a secret (the whole extra when it is not a JSON object), and a variable's value when its key names
a secret (``password``, ``secret``, ``token``, ``api_key``, ``private_key`` …). Every line of the
task's output then passes :meth:`SecretsMasker.redact` before it is shipped, so a task that prints
a password — or a template field rendered with one — logs ``***``. The task process cannot undo
this: the masker lives in the supervisor, which reads the task's output from a pipe.

Very short values are not registered: masking every ``"1"`` would make logs unreadable and
protects nothing a guess would not find.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import Any

from airlock.models.secrets import MASK, ConnectionInfo, is_sensitive

#: Secrets shorter than this are not masked.
MIN_SECRET_LENGTH = 5


class SecretsMasker:
    """The secrets of one task try, and the redaction of text and values that could hold them.

    Thread-safe: the supervisor registers from its request loop while its log shipper redacts.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        """Mask ``secret`` from now on, with its forms in JSON and in ``repr``."""
        forms = {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]}
        forms |= {line for line in secret.splitlines() if line.strip()}
        with self._lock:
            new = {form for form in forms if len(form) >= MIN_SECRET_LENGTH} - self._secrets
            if not new:
                return
            self._secrets |= new
            # Longest first, so a secret containing another is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def add_variable(self, key: str, value: str | None) -> None:
        if value is not None and is_sensitive(key):
            self.add(value)

    def add_connection(self, connection: ConnectionInfo | None) -> None:
        if connection is None:
            return
        if connection.password:
            self.add(connection.password)
        if not connection.extra:
            return
        try:
            extra = json.loads(connection.extra)
        except ValueError:
            extra = None
        if isinstance(extra, dict):
            for secret in _sensitive_values(extra):
                self.add(secret)
        else:
            self.add(connection.extra)

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None:
            return text
        return pattern.sub(MASK, text)

    def redact_value(self, value: Any, name: str | None = None) -> Any:
        """``value`` (JSON-like) with secrets masked, and everything under a key that names a
        secret replaced whole."""
        if name is not None and is_sensitive(name) and value not in (None, ""):
            return MASK
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self.redact_value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(v) for v in value]
        return value


def _sensitive_values(value: Any, name: str | None = None) -> Iterable[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _sensitive_values(item, str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _sensitive_values(item, name)
    elif name is not None and is_sensitive(name) and value not in (None, ""):
        yield value if isinstance(value, str) else json.dumps(value)
