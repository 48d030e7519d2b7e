"""Variables and connections as user code receives them: the bundle's own or global, decrypted.

The Execution API (for running tasks) and the Internal API (for DAG files parsed, triggers and
callbacks) answer the same question, and ADR 0004 keeps them from importing each other, so the
rule lives here once: a row is visible to a bundle when it has no bundle or is that bundle's.
A row of another bundle is answered exactly as a missing one (None), so its existence never
leaks.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from airlock.db.crypto import SecretBox
from airlock.db.models import Connection, Variable
from airlock.models.secrets import ConnectionInfo, VariableValue


def visible_to(bundle_name: str | None, bundle: str) -> bool:
    return bundle_name is None or bundle_name == bundle


def read_variable(session: Session, key: str, bundle: str, box: SecretBox) -> VariableValue | None:
    row = session.get(Variable, key)
    if row is None or not visible_to(row.bundle_name, bundle):
        return None
    return VariableValue(key=row.key, value=row.get_value(box))


def read_connection(
    session: Session, conn_id: str, bundle: str, box: SecretBox
) -> ConnectionInfo | None:
    row = session.get(Connection, conn_id)
    if row is None or not visible_to(row.bundle_name, bundle):
        return None
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
