"""XCom values as people see them: with the secrets the task could read masked.

A task may return (or push) what it read from a connection or a variable, and an XCom is shown
to every viewer of its DAG. Before a value is answered, the secrets that DAG's tasks can read are
masked in it — connection passwords, the values under secret-naming keys of connection extras
(the whole extra when it is not a JSON object), variables whose key names a secret — and any
value stored under a key that names a secret is replaced whole, as the worker masks task logs
(``airlock.sdk.execution_time.secrets_masker``). The secrets are read only when there is a value
to show, and stay in this request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from airlock.db import Connection, SecretBox, SecretDecryptError, Variable
from airlock.models.secrets import MASK, is_sensitive

#: Shorter secrets are not masked (masking every "1" would hide everything and protect nothing).
MIN_SECRET_LENGTH = 5


class XComMasker:
    def __init__(self, session: Session, bundle: str, box: SecretBox) -> None:
        secrets = {s for s in _bundle_secrets(session, bundle, box) if len(s) >= MIN_SECRET_LENGTH}
        ordered = sorted(secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def mask(self, value: Any, name: str | None = None) -> Any:
        if name is not None and is_sensitive(name) and value not in (None, ""):
            return MASK
        if isinstance(value, str):
            return value if self._pattern is None else self._pattern.sub(MASK, value)
        if isinstance(value, dict):
            return {k: self.mask(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.mask(v) for v in value]
        return value


def _bundle_secrets(session: Session, bundle: str, box: SecretBox) -> Iterator[str]:
    visible = or_(Connection.bundle_name.is_(None), Connection.bundle_name == bundle)
    for connection in session.scalars(select(Connection).where(visible)):
        try:
            password, extra = connection.get_password(box), connection.get_extra(box)
        except SecretDecryptError:
            continue
        if password:
            yield password
        if extra:
            yield from _extra_secrets(extra)
    variables = or_(Variable.bundle_name.is_(None), Variable.bundle_name == bundle)
    for variable in session.scalars(select(Variable).where(variables)):
        if is_sensitive(variable.key):
            try:
                yield variable.get_value(box)
            except SecretDecryptError:
                continue


def _extra_secrets(extra: str) -> Iterator[str]:
    try:
        parsed = json.loads(extra)
    except ValueError:
        yield extra
        return
    if not isinstance(parsed, dict):
        yield extra
        return
    stack: list[tuple[str | None, Any]] = list(parsed.items())
    while stack:
        name, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.items())
        elif isinstance(value, list):
            stack.extend((name, item) for item in value)
        elif name is not None and is_sensitive(name) and value not in (None, ""):
            yield value if isinstance(value, str) else json.dumps(value)
