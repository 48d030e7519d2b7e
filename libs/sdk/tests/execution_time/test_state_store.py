"""``context["task_state_store"]`` / ``context["asset_state_store"]`` as task code sees them, on
the in-memory API: scope, retention and the errors a DAG author meets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airlock.sdk import DAG, NEVER_EXPIRE, Asset, task
from airlock.sdk.testing import InMemoryComms, run_task

ORDERS = Asset("orders", uri="file:///lake/orders")
USERS = Asset("users", uri="file:///lake/users")
DAY = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_task_store_keeps_values_between_tries_with_their_retention() -> None:
    with DAG("tries", schedule=None) as dag:

        @task
        def submit(**context: Any) -> str:
            store = context["task_state_store"]
            job = store.get("job_id")
            if job is None:
                store.set("job_id", "j-1", retention=NEVER_EXPIRE)
                store.set("polls", 0)
                store.set("lock", True, retention=timedelta(hours=1))
                raise RuntimeError("the worker died after submitting")
            store.set("polls", store.get("polls") + 1)
            return str(job)

        submit()
    comms = InMemoryComms()
    with pytest.raises(RuntimeError):
        run_task(dag.get_task("submit"), run_id="r1", comms=comms)
    assert run_task(dag.get_task("submit"), run_id="r1", try_number=2, comms=comms).state == (
        "success"
    )
    stored = comms.states[("tries", "r1", "submit", -1)]
    assert stored == {"job_id": ("j-1", None), "polls": (1, 30 * 86400.0), "lock": (True, 3600.0)}
    assert comms.xcoms_of("submit") == {"return_value": "j-1"}
    # Another run's instance has its own store.
    with pytest.raises(RuntimeError):
        run_task(dag.get_task("submit"), run_id="r2", comms=comms)


def test_delete_clear_and_bad_values_or_retentions() -> None:
    with DAG("edits", schedule=None) as dag:

        @task
        def edit(**context: Any) -> list[Any]:
            store = context["task_state_store"]
            store.set("a", {"n": 1})
            store.set("b", [1, 2])
            store.delete("a")
            store.delete("missing")
            seen = [store.get("a", "gone"), store.get("b")]
            store.clear()
            seen.append(store.get("b"))
            for bad in (lambda: store.set("x", object()), lambda: store.set("x", None)):
                try:
                    bad()
                except (TypeError, ValueError) as exc:
                    seen.append(type(exc).__name__)
            for retention in (timedelta(0), 5):
                try:
                    store.set("x", 1, retention=retention)
                except (TypeError, ValueError) as exc:
                    seen.append(str(exc).split(",")[0])
            try:
                store.get("a/b")
            except ValueError as exc:
                seen.append("without '/'" in str(exc))
            return seen

        edit()
    comms = InMemoryComms()
    run_task(dag.get_task("edit"), comms=comms)
    assert comms.xcoms_of("edit")["return_value"] == [
        "gone",
        [1, 2],
        None,
        "TypeError",
        "ValueError",
        "retention must be positive",
        "retention must be a datetime.timedelta",
        True,
    ]


def test_the_asset_store_is_per_declared_asset_and_outlives_runs() -> None:
    with DAG("assets", schedule=None) as dag:

        @task(outlets=[ORDERS])
        def load(**context: Any) -> Any:
            store = context["asset_state_store"]
            previous = store.get("watermark")
            store.set("watermark", context["run_id"])
            return previous

        @task(inlets=[ORDERS, USERS])
        def read(**context: Any) -> Any:
            stores = context["asset_state_store"]
            try:
                stores.get("watermark")
            except TypeError as exc:
                ambiguous = "pick one" in str(exc)
            try:
                stores[Asset("elsewhere", uri="file:///x")]
            except KeyError as exc:
                undeclared = "not an inlet or outlet" in str(exc)
            return [
                stores[ORDERS].get("watermark"),
                stores["users"].get("w"),
                ambiguous,
                undeclared,
            ]

        @task
        def bare(**context: Any) -> bool:
            return "asset_state_store" in context

        load() >> read() >> bare()
    comms = InMemoryComms()
    run_task(dag.get_task("load"), run_id="first", comms=comms)
    run_task(dag.get_task("load"), run_id="second", comms=comms)
    assert comms.xcoms_of("load") == {"return_value": "first"}
    run_task(dag.get_task("read"), run_id="second", comms=comms)
    assert comms.xcoms_of("read")["return_value"] == ["second", None, True, True]
    run_task(dag.get_task("bare"), comms=comms)
    assert comms.xcoms_of("bare")["return_value"] is False
    assert comms.states[ORDERS.uri] == {"watermark": ("second", None)}


def test_inlet_events_read_the_latest_events_of_an_inlet() -> None:
    from airlock.models.execution import TriggeringAssetEvent as EventPayload

    with DAG("inlets", schedule=None) as dag:

        @task(inlets=[ORDERS])
        def read(inlet_events: Any = None) -> Any:
            latest = inlet_events[ORDERS][-1]
            try:
                inlet_events[USERS]
            except KeyError as exc:
                refused = "not an inlet asset" in str(exc)
            return [len(inlet_events["orders"]), latest.extra, latest.asset.name, refused]

        read()
    comms = InMemoryComms()
    comms.asset_event_log[ORDERS.uri] = [
        EventPayload(uri=ORDERS.uri, name="orders", extra={"n": n}, timestamp=DAY) for n in range(3)
    ]
    run_task(dag.get_task("read"), comms=comms)
    assert comms.xcoms_of("read")["return_value"] == [3, {"n": 2}, "orders", True]
