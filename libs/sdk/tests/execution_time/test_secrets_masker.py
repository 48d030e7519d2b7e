"""The masker the worker runs a task's output through: what it masks, and what it leaves."""

from __future__ import annotations

from airlock.models.secrets import ConnectionInfo
from airlock.sdk.execution_time.secrets_masker import SecretsMasker, is_sensitive


def test_a_connections_password_and_secret_extra_values_are_masked() -> None:
    masker = SecretsMasker()
    masker.add_connection(
        ConnectionInfo(
            conn_id="db",
            conn_type="postgres",
            login="etl",
            password="s3cret-pass",
            extra='{"sslmode": "require", "auth": {"api_key": "k-12345"}}',
        )
    )
    line = 'login etl password s3cret-pass extra {"sslmode": "require", "api_key": "k-12345"}'
    assert (
        masker.redact(line)
        == 'login etl password *** extra {"sslmode": "require", "api_key": "***"}'
    )


def test_an_extra_that_is_not_json_is_masked_whole() -> None:
    masker = SecretsMasker()
    masker.add_connection(ConnectionInfo(conn_id="c", conn_type="http", extra="opaque-blob"))
    assert masker.redact("x opaque-blob y") == "x *** y"


def test_only_variables_whose_key_names_a_secret_are_masked() -> None:
    masker = SecretsMasker()
    masker.add_variable("db_password", "hunter2-long")
    masker.add_variable("region", "eu-west-1")
    assert masker.redact("hunter2-long in eu-west-1") == "*** in eu-west-1"
    assert [is_sensitive(k) for k in ("MY_API_KEY", "private_key", "host")] == [True, True, False]


def test_json_and_repr_forms_and_longer_secrets_first() -> None:
    masker = SecretsMasker()
    masker.add('pa"ss\\word')
    masker.add("abcde")
    masker.add("abcdefgh")
    assert masker.redact('{"p": "pa\\"ss\\\\word"}') == '{"p": "***"}'
    assert masker.redact("abcdefgh abcde") == "*** ***"


def test_short_values_are_not_masked_and_values_redact_recursively() -> None:
    masker = SecretsMasker()
    masker.add("1234")
    masker.add("long-secret")
    assert masker.redact("1234") == "1234"
    value = {"dsn": "x:long-secret@h", "token": 7, "items": ["long-secret", 3]}
    assert masker.redact_value(value) == {"dsn": "x:***@h", "token": "***", "items": ["***", 3]}
