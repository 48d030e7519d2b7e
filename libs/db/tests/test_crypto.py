from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from airlock.db import Connection, SecretBox, SecretDecryptError, Variable, generate_secret_key

PASSWORD = "s3cr3t-pa55w0rd"


def test_round_trip_and_wrong_key():
    box = SecretBox([generate_secret_key()])
    token = box.encrypt(PASSWORD)
    assert PASSWORD.encode() not in token
    assert box.decrypt(token) == PASSWORD
    with pytest.raises(SecretDecryptError, match="key"):
        SecretBox([generate_secret_key()]).decrypt(token)


def test_rotation_keeps_old_secrets_readable_until_reencrypted():
    old_key, new_key = generate_secret_key(), generate_secret_key()
    token = SecretBox([old_key]).encrypt(PASSWORD)
    rotating = SecretBox([new_key, old_key])
    assert rotating.decrypt(token) == PASSWORD
    rotated = rotating.rotate(token)
    assert SecretBox([new_key]).decrypt(rotated) == PASSWORD


def test_bad_keys_are_refused_with_a_hint():
    with pytest.raises(ValueError, match="generate_secret_key"):
        SecretBox([])
    with pytest.raises(ValueError, match="#2 is not a valid Fernet key"):
        SecretBox([generate_secret_key(), b"too-short"])


def test_connection_secrets_are_encrypted_at_rest(session: Session):
    key = generate_secret_key()
    connection = Connection(conn_id="warehouse", conn_type="postgres", host="db", login="etl")
    connection.set_password(PASSWORD, SecretBox([key]))
    connection.set_extra('{"sslmode": "require"}', SecretBox([key]))
    session.add(connection)
    session.commit()
    session.expunge_all()

    raw_password, raw_extra = session.execute(
        text("SELECT password_encrypted, extra_encrypted FROM connection")
    ).one()
    assert PASSWORD.encode() not in bytes(raw_password)
    assert b"sslmode" not in bytes(raw_extra)

    stored = session.get(Connection, "warehouse")
    assert stored is not None
    assert stored.get_password(SecretBox([key])) == PASSWORD
    assert stored.get_extra(SecretBox([key])) == '{"sslmode": "require"}'
    with pytest.raises(SecretDecryptError):
        stored.get_password(SecretBox([generate_secret_key()]))


def test_connection_without_password_stores_null():
    connection = Connection(conn_id="http", conn_type="http")
    box = SecretBox([generate_secret_key()])
    connection.set_password(None, box)
    assert connection.password_encrypted is None
    assert connection.get_password(box) is None


def test_variables_are_encrypted_only_when_a_box_is_given(session: Session):
    box = SecretBox([generate_secret_key()])
    secret = Variable(key="api_token")
    secret.set_value(PASSWORD, box)
    plain = Variable(key="region")
    plain.set_value("eu-west-1", None)
    session.add_all([secret, plain])
    session.commit()
    session.expunge_all()

    raw = dict(session.execute(text("SELECT key, value FROM variable")).all())
    assert PASSWORD not in raw["api_token"]
    assert raw["region"] == "eu-west-1"

    stored = session.get(Variable, "api_token")
    assert stored is not None
    assert stored.is_encrypted
    assert stored.get_value(box) == PASSWORD
    with pytest.raises(SecretDecryptError, match="api_token"):
        stored.get_value(None)
