"""What user code of a bundle may read: its bundle's variables and connections and the global
ones, decrypted; another bundle's answer exactly as missing ones."""

from __future__ import annotations

from sqlalchemy.orm import Session

from airlock.db import Connection, SecretBox, Variable, generate_secret_key
from airlock.db.secret_reads import read_connection, read_variable
from airlock.models.secrets import ConnectionInfo, VariableValue


def _seed(session: Session, box: SecretBox) -> None:
    for key, bundle in (("shared", None), ("own", "sales"), ("theirs", "hr")):
        variable = Variable(key=key, bundle_name=bundle)
        variable.set_value(f"{key}-value", box)
        session.add(variable)
        connection = Connection(
            conn_id=f"{key}_db", conn_type="postgres", host="db", port=5432, bundle_name=bundle
        )
        connection.set_password(f"{key}-password", box)
        connection.set_extra('{"sslmode": "require"}', box)
        session.add(connection)
    session.commit()


def test_a_bundle_reads_its_own_and_global_rows_decrypted(session: Session) -> None:
    box = SecretBox([generate_secret_key()])
    _seed(session, box)
    assert read_variable(session, "shared", "sales", box) == VariableValue(
        key="shared", value="shared-value"
    )
    assert read_variable(session, "own", "sales", box) == VariableValue(
        key="own", value="own-value"
    )
    assert read_connection(session, "own_db", "sales", box) == ConnectionInfo(
        conn_id="own_db",
        conn_type="postgres",
        host="db",
        port=5432,
        password="own-password",
        extra='{"sslmode": "require"}',
    )
    shared = read_connection(session, "shared_db", "sales", box)
    assert shared is not None
    assert shared.password == "shared-password"


def test_another_bundles_row_reads_as_missing(session: Session) -> None:
    box = SecretBox([generate_secret_key()])
    _seed(session, box)
    assert read_variable(session, "theirs", "sales", box) is None
    assert read_variable(session, "nowhere", "sales", box) is None
    assert read_connection(session, "theirs_db", "sales", box) is None
    assert read_connection(session, "nowhere_db", "sales", box) is None
