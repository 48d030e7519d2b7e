"""``context["triggering_asset_events"]``: per asset, the events that triggered the run, as the
Execution API's ``TaskRunContext`` describes them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from airlock.models.execution import DagRunInfo, TaskRunContext
from airlock.models.states import DagRunState
from airlock.sdk import DAG, Asset, task
from airlock.sdk.execution_time.task_runner import triggering_asset_events
from airlock.sdk.testing import InMemoryComms, TriggeringAssetEvent, run_task

ORDERS = Asset(name="orders", uri="s3://warehouse/orders.parquet")
T1 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 21, 9, 5, tzinfo=UTC)

#: A start reply from the Execution API, as the worker receives it.
REPLY = b"""{
  "dag_run": {"dag_id": "consumer", "run_id": "asset_triggered__1",
              "run_type": "asset_triggered", "state": "running"},
  "try_number": 1, "max_tries": 0,
  "triggering_asset_events": [
    {"uri": "s3://warehouse/orders.parquet", "name": "orders", "extra": {"rows": 3},
     "timestamp": "2026-11-21T09:00:00Z", "source_dag_id": "producer",
     "source_task_id": "write", "source_run_id": "manual__1", "source_map_index": -1},
    {"uri": "s3://warehouse/orders.parquet", "name": "orders", "extra": {},
     "timestamp": "2026-11-21T09:05:00Z"},
    {"uri": "file:///tmp/customers", "name": "customers", "extra": {},
     "timestamp": "2026-11-21T09:01:00Z"}
  ]
}"""


def test_the_start_reply_becomes_events_per_asset() -> None:
    reply = msgspec.json.decode(REPLY, type=TaskRunContext)
    events = triggering_asset_events(reply.triggering_asset_events)
    assert [asset.uri for asset in events] == [
        "s3://warehouse/orders.parquet",
        "file:///tmp/customers",
    ]
    first, second = events[ORDERS]
    assert first.asset == Asset(name="orders", uri="s3://warehouse/orders.parquet")
    assert (first.source_dag_id, first.source_task_id, first.source_run_id) == (
        "producer",
        "write",
        "manual__1",
    )
    assert first.source_map_index == -1
    assert first.extra == {"rows": 3}
    assert first.timestamp == T1
    # Pushed through the Web API: no source task.
    assert second.source_dag_id is None
    assert second.timestamp == T2
    # By URI or by name, as well as by Asset.
    assert events["s3://warehouse/orders.parquet"] == events["orders"] == [first, second]
    assert len(events["customers"]) == 1


def test_an_asset_that_did_not_trigger_the_run_is_a_key_error_naming_those_that_did() -> None:
    reply = msgspec.json.decode(REPLY, type=TaskRunContext)
    events = triggering_asset_events(reply.triggering_asset_events)
    with pytest.raises(KeyError, match="file:///tmp/customers"):
        events[Asset("invoices")]


def test_a_run_not_triggered_by_assets_has_none() -> None:
    reply = TaskRunContext(
        dag_run=DagRunInfo(
            dag_id="d", run_id="manual__1", run_type="manual", state=DagRunState.RUNNING
        ),
        try_number=1,
        max_tries=0,
    )
    events = triggering_asset_events(reply.triggering_asset_events)
    assert len(events) == 0
    assert list(events) == []
    assert "orders" not in events


def test_a_task_reads_them_from_its_context() -> None:
    seen: dict[str, Any] = {}

    with DAG("consumer", schedule=[ORDERS]):

        @task
        def consume(triggering_asset_events: Any = None) -> list[str]:
            for asset, events in triggering_asset_events.items():
                seen[asset.uri] = [(e.source_dag_id, e.extra) for e in events]
            return [e.source_task_id or "" for e in triggering_asset_events[ORDERS]]

        consume_task = consume().operator

    comms = InMemoryComms()
    outcome = run_task(
        consume_task,
        comms=comms,
        triggering_asset_events=[
            TriggeringAssetEvent(
                asset=ORDERS,
                timestamp=T1,
                extra={"rows": 3},
                source_dag_id="producer",
                source_task_id="write",
            )
        ],
    )
    assert outcome.state == "success"
    assert seen == {"s3://warehouse/orders.parquet": [("producer", {"rows": 3})]}
    assert comms.xcoms_of("consume") == {"return_value": ["write"]}
