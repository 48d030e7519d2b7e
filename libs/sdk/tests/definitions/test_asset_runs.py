"""Run policies and completion schedules as DAG authors write them, and their serialized form."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest

from airlock.models.dag import (
    AssetAnyCond,
    AssetBacklog,
    AssetRef,
    AssetRunMode,
    AssetRunPolicy,
    AssetSchedule,
)
from airlock.models.execution import TriggeringAssetEvent as TriggeringEventPayload
from airlock.sdk import (
    DAG,
    Asset,
    DagCompleted,
    DagDefinitionError,
    EmptyOperator,
    RunAfterQuiet,
    RunAllQueued,
    RunPerBatch,
    RunPerEvent,
)
from airlock.sdk.execution_time.task_runner import triggering_asset_events
from airlock.sdk.serialization import serialize_dag

ORDERS = Asset(name="orders", uri="s3://warehouse/orders")


def schedule_of(**options: object) -> AssetSchedule:
    with DAG("c", schedule=options.pop("schedule", ORDERS), **options) as dag:  # type: ignore[arg-type]
        EmptyOperator(task_id="t")
    schedule = serialize_dag(dag).schedule
    assert isinstance(schedule, AssetSchedule)
    return schedule


def test_default_is_one_run_per_event_and_run_the_backlog() -> None:
    assert schedule_of().policy == AssetRunPolicy()
    assert schedule_of(asset_run_policy=RunPerEvent()).policy.mode is AssetRunMode.PER_EVENT


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (RunAllQueued(), AssetRunPolicy(mode=AssetRunMode.ALL_QUEUED)),
        (
            RunPerBatch(max_events=100, window=timedelta(seconds=30)),
            AssetRunPolicy(mode=AssetRunMode.BATCH, max_events=100, window_s=30.0),
        ),
        (RunPerBatch(max_events=5), AssetRunPolicy(mode=AssetRunMode.BATCH, max_events=5)),
        (
            RunAfterQuiet(quiet=timedelta(seconds=10), max_wait=timedelta(minutes=5)),
            AssetRunPolicy(mode=AssetRunMode.DEBOUNCE, quiet_s=10.0, max_wait_s=300.0),
        ),
    ],
)
def test_policies_serialize(policy: object, expected: AssetRunPolicy) -> None:
    assert schedule_of(asset_run_policy=policy).policy == expected


def test_on_unpause_skip() -> None:
    assert schedule_of(on_unpause="skip_backlog").policy.on_unpause is AssetBacklog.SKIP


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (RunPerBatch, "max_events, window"),
        (lambda: RunPerBatch(max_events=0), "positive int"),
        (lambda: RunPerBatch(window=timedelta(0)), "positive timedelta"),
        (lambda: RunPerBatch(window=30), "positive timedelta"),  # type: ignore[arg-type]
        (
            lambda: RunAfterQuiet(quiet=timedelta(minutes=2), max_wait=timedelta(minutes=1)),
            "at least",
        ),
        (lambda: DagCompleted("etl", states=["running"]), "success, failed"),
        (lambda: DAG("c", schedule=ORDERS, on_unpause="later"), "run_backlog"),
        (lambda: DAG("c", schedule=ORDERS, asset_run_policy="batch"), "RunPerBatch"),  # type: ignore[arg-type]
    ],
)
def test_bad_policies_say_what_is_wrong(make: object, says: str) -> None:
    with pytest.raises(DagDefinitionError, match=says):
        make()  # type: ignore[operator]


def test_dag_completed_is_an_asset_condition_on_reserved_uris() -> None:
    one = schedule_of(schedule=DagCompleted("etl"))
    assert one.condition == AssetRef(
        name="airlock://dag/etl/success", uri="airlock://dag/etl/success", group="completion"
    )
    both = schedule_of(schedule=DagCompleted("etl", states=["success", "failed"]) | ORDERS)
    assert isinstance(both.condition, AssetAnyCond)
    with pytest.raises(DagDefinitionError, match="reserved"):
        Asset(uri="airlock://dag/etl/success")


def test_a_completion_event_reaches_the_task() -> None:
    payload = TriggeringEventPayload(
        name="airlock://dag/etl/success",
        uri="airlock://dag/etl/success",
        timestamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        extra={"run_id": "r1"},
        source_dag_id="etl",
        source_run_id="r1",
    )
    events = triggering_asset_events([payload])
    (event,) = events["airlock://dag/etl/success"]
    assert event.extra == {"run_id": "r1"}
    assert event.source_dag_id == "etl"
