"""Variable, Connection and XCom access through the pluggable comms object."""

from __future__ import annotations

import pytest

from airlock.sdk import Connection, Variable
from airlock.sdk.exceptions import AirlockNotFoundException, CommsUnavailableError
from airlock.sdk.testing import InMemoryComms, use_comms


def test_without_comms_the_error_says_where_it_works() -> None:
    with pytest.raises(CommsUnavailableError) as info:
        Variable.get("x")
    message = str(info.value)
    assert "Variable.get('x')" in message
    assert "inside a running task or while the DAG processor parses a file" in message
    assert "airlock.sdk.testing.InMemoryComms" in message
    with pytest.raises(CommsUnavailableError, match=r"Connection\.get"):
        Connection.get("db")


def test_variable_get_semantics(comms: InMemoryComms) -> None:
    comms.variables.update({"plain": "text", "doc": '{"a": [1, 2]}'})
    assert Variable.get("plain") == "text"
    assert Variable.get("doc", deserialize_json=True) == {"a": [1, 2]}
    assert Variable.get("missing", default="fallback") == "fallback"
    assert Variable.get("missing", default=None) is None
    with pytest.raises(KeyError, match="Variable missing does not exist"):
        Variable.get("missing")


def test_variable_set_and_delete(comms: InMemoryComms) -> None:
    Variable.set("k", {"x": 1}, serialize_json=True)
    assert Variable.get("k", deserialize_json=True) == {"x": 1}
    Variable.set("s", 5)
    assert Variable.get("s") == "5"
    Variable.delete("k")
    assert Variable.get("k", default=None) is None


def test_connection_get() -> None:
    memory = InMemoryComms(
        connections={
            "warehouse": Connection(
                conn_id="warehouse",
                conn_type="postgres",
                host="db.example",
                login="me",
                password="p@ss word",
                port=5432,
                schema="analytics",
                extra='{"sslmode": "require"}',
            )
        }
    )
    with use_comms(memory):
        conn = Connection.get("warehouse")
        with pytest.raises(AirlockNotFoundException, match="`nope` isn't defined"):
            Connection.get("nope")
    assert conn.host == "db.example"
    assert conn.extra_dejson == {"sslmode": "require"}
    assert conn.get_uri() == "postgres://me:p%40ss%20word@db.example:5432/analytics?sslmode=require"


def test_use_comms_restores_previous() -> None:
    first, second = InMemoryComms({"v": "1"}), InMemoryComms({"v": "2"})
    with use_comms(first):
        with use_comms(second):
            assert Variable.get("v") == "2"
        assert Variable.get("v") == "1"
    with pytest.raises(CommsUnavailableError):
        Variable.get("v")


def test_mapped_xcom_pull_returns_all_values(comms: InMemoryComms) -> None:
    for index in (1, 0):
        comms.xcom_push(
            dag_id="d",
            run_id="r",
            task_id="m",
            key="return_value",
            value=index * 10,
            map_index=index,
        )
    assert comms.xcom_pull(dag_id="d", run_id="r", task_id="m", key="return_value") == [0, 10]
    assert (
        comms.xcom_pull(dag_id="d", run_id="r", task_id="m", key="return_value", map_index=1) == 10
    )


def test_outlet_events_and_parsing_context() -> None:
    from airlock.sdk import DAG, Asset, AssetAlias, get_parsing_context, task
    from airlock.sdk.testing import run_task

    orders, alias = Asset("orders"), AssetAlias("exports")
    seen = {}

    with DAG("events", schedule=None):

        @task(outlets=[orders, alias])
        def produce(outlet_events=None):
            outlet_events[orders].extra["rows"] = 3
            outlet_events[alias].add(Asset("exports/2024"), extra={"part": 1})
            seen["events"] = outlet_events

        op = produce().operator
    assert run_task(op).state == "success"
    events = seen["events"]
    assert events[orders].extra == {"rows": 3}
    assert events[alias].asset_alias_events == [(Asset("exports/2024"), {"part": 1})]
    assert get_parsing_context() == (None, None)
