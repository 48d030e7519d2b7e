"""A task of an asset-triggered run learns, when it starts, which asset events triggered the run
(``TaskRunContext.triggering_asset_events``, Execution API 2026-11-21); a 2026-11-01 client does
not see the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airlock.db import Asset, AssetEvent, DagRun, DagRunAssetEvent
from airlock.models.execution import TaskStart
from airlock.models.states import DagRunState, DagRunType

from .conftest import ExecEnv

T0 = dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC)
START = {"hostname": "host-1", "pid": 100, "start_date": T0.isoformat()}


def _asset_triggered_run(env: ExecEnv, dag_id: str, run_id: str) -> None:
    """A consumer run that consumed two events of ``orders`` and one of ``customers``, the newest
    (a pushed one) stored first, plus an event it did not consume."""
    with env.session() as session:
        orders = Asset(uri="s3://warehouse/orders", name="orders")
        customers = Asset(uri="s3://warehouse/customers", name="customers")
        session.add_all([orders, customers])
        session.flush()
        pushed = AssetEvent(
            asset_id=orders.id,
            source="api:ann",
            extra={"by": "hand"},
            timestamp=T0.replace(hour=11),
        )
        produced = AssetEvent(
            asset_id=orders.id,
            source="task",
            extra={"rows": 3},
            source_dag_id="producer",
            source_task_id="write",
            source_run_id="manual__1",
            source_map_index=-1,
            timestamp=T0,
        )
        other = AssetEvent(asset_id=customers.id, source="task", timestamp=T0.replace(hour=10))
        unrelated = AssetEvent(asset_id=customers.id, source="task", timestamp=T0.replace(hour=12))
        session.add_all([pushed, produced, other, unrelated])
        run = DagRun(
            dag_id=dag_id,
            run_id=run_id,
            dag_version_id=env._versions[dag_id],
            run_after=T0,
            run_type=DagRunType.ASSET_TRIGGERED,
            state=DagRunState.RUNNING,
            conf={},
        )
        session.add(run)
        session.flush()
        session.add_all(
            DagRunAssetEvent(dag_run_id=run.id, event_id=event.id)
            for event in (pushed, produced, other)
        )
        session.commit()


@pytest.fixture
def consumer(env: ExecEnv) -> tuple[str, str]:
    env.add_dag("consumer")
    _asset_triggered_run(env, "consumer", "asset_triggered__1")
    ti_id = env.add_ti("consumer", "t1", run_id="asset_triggered__1")
    return ti_id, env.task_token(ti_id)


def _start(env: ExecEnv, ti_id: str, token: str, **headers: str) -> Any:
    response = env.client.patch(
        f"/execution/task-instances/{ti_id}/run",
        json=START,
        headers={"Authorization": f"Bearer {token}", **headers},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_task_of_an_asset_triggered_run_sees_the_events_oldest_first(
    env: ExecEnv, consumer: tuple[str, str]
) -> None:
    context = _start(env, *consumer)
    assert context["dag_run"]["run_type"] == "asset_triggered"
    assert context["triggering_asset_events"] == [
        {
            "uri": "s3://warehouse/orders",
            "name": "orders",
            "extra": {"rows": 3},
            "timestamp": "2026-11-21T09:00:00Z",
            "source_dag_id": "producer",
            "source_task_id": "write",
            "source_run_id": "manual__1",
            "source_map_index": -1,
        },
        {
            "uri": "s3://warehouse/customers",
            "name": "customers",
            "extra": {},
            "timestamp": "2026-11-21T10:00:00Z",
            "source_dag_id": None,
            "source_task_id": None,
            "source_run_id": None,
            "source_map_index": None,
        },
        {
            "uri": "s3://warehouse/orders",
            "name": "orders",
            "extra": {"by": "hand"},
            "timestamp": "2026-11-21T11:00:00Z",
            "source_dag_id": None,
            "source_task_id": None,
            "source_run_id": None,
            "source_map_index": None,
        },
    ]


def test_the_sdk_client_decodes_them(env: ExecEnv, consumer: tuple[str, str]) -> None:
    ti_id, token = consumer
    client = env.sdk(token)
    context = client.start(ti_id, TaskStart(hostname="host-1", pid=100, start_date=T0))
    events = context.triggering_asset_events
    assert [(e.name, e.source_task_id) for e in events] == [
        ("orders", "write"),
        ("customers", None),
        ("orders", None),
    ]
    assert events[0].timestamp == T0


def test_a_run_not_triggered_by_assets_has_no_events(env: ExecEnv) -> None:
    env.add_dag("plain")
    env.add_run("plain")
    ti_id = env.add_ti("plain", "t1")
    assert _start(env, ti_id, env.task_token(ti_id))["triggering_asset_events"] == []


def test_a_2026_11_01_client_does_not_see_the_field(
    env: ExecEnv, consumer: tuple[str, str]
) -> None:
    context = _start(env, *consumer, **{"Airlock-API-Version": "2026-11-01"})
    assert "triggering_asset_events" not in context
    assert context["dag_run"]["run_id"] == "asset_triggered__1"


def test_a_task_the_hand_out_starts_learns_them_too(
    env: ExecEnv, consumer: tuple[str, str]
) -> None:
    body = {"worker": "w1", "wait_s": 0, "slots": 1, "start": 1, "hostname": "h", "pid": 7}
    response = env.call("POST", "/workloads/next", env.worker_token(), body)
    (workload,) = response.json()["workloads"]
    assert workload["ti"]["id"] == consumer[0]
    events = workload["context"]["triggering_asset_events"]
    assert [(e["uri"], e["source_dag_id"]) for e in events] == [
        ("s3://warehouse/orders", "producer"),
        ("s3://warehouse/customers", None),
        ("s3://warehouse/orders", None),
    ]
