"""The SerializedDag Structs: tagged unions, defaults, compatibility rules."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from airlock.models.codec import compress, decode_dag, encode_dag
from airlock.models.dag import (
    FORMAT_VERSION,
    AssetAliasRef,
    AssetAllCond,
    AssetAnyCond,
    AssetRef,
    AssetSchedule,
    ContinuousSchedule,
    CronSchedule,
    DeltaSchedule,
    MappedArg,
    MappedSpec,
    NoSchedule,
    OnceSchedule,
    SensorSpec,
    SerializedDag,
    SerializedParam,
    SerializedTask,
    SerializedWatcher,
    TriggerRule,
    XComRef,
)

MiB = 1 << 20


def _round_trip(dag: SerializedDag) -> SerializedDag:
    return decode_dag(compress(encode_dag(dag)), MiB)


def test_minimal_dag_encodes_to_its_id() -> None:
    assert encode_dag(SerializedDag(dag_id="x")) == b'{"dag_id":"x"}'
    decoded = _round_trip(SerializedDag(dag_id="x"))
    assert decoded.format_version == FORMAT_VERSION
    assert decoded.schedule == NoSchedule()


@pytest.mark.parametrize(
    "schedule",
    [
        CronSchedule(expr="0 6 * * *", timezone="Europe/Paris"),
        DeltaSchedule(seconds=3600),
        OnceSchedule(),
        ContinuousSchedule(),
        NoSchedule(),
        AssetSchedule(
            condition=AssetAnyCond(
                items=[
                    AssetAllCond(
                        items=[
                            AssetRef(name="a", uri="s3://a", extra={"k": 1}),
                            AssetAliasRef(name="al"),
                        ]
                    ),
                    AssetRef(name="b", uri="b", group="g"),
                ]
            )
        ),
    ],
)
def test_schedules_are_a_tagged_union(schedule) -> None:
    dag = SerializedDag(dag_id="s", schedule=schedule)
    assert _round_trip(dag).schedule == schedule
    kinds = {
        CronSchedule: "cron",
        DeltaSchedule: "delta",
        OnceSchedule: "once",
        ContinuousSchedule: "continuous",
        NoSchedule: "none",
        AssetSchedule: "assets",
    }
    if not isinstance(schedule, NoSchedule):
        assert msgspec.json.decode(encode_dag(dag))["schedule"]["kind"] == kinds[type(schedule)]


def test_full_task_round_trip() -> None:
    task = SerializedTask(
        task_id="t",
        operator_class="m.Op",
        operator_name="Op",
        upstream=["a"],
        trigger_rule=TriggerRule.ONE_FAILED,
        sensor=SensorSpec(mode="reschedule", poke_interval=5, timeout=60, soft_fail=True),
        mapped=MappedSpec(
            args=[
                MappedArg(name="x", length=2, values=[1, 2]),
                MappedArg(name="y", xcom=XComRef(task_id="up", key="k")),
            ],
        ),
        template_values={"cmd": "echo {{ ds }}"},
        outlets=[AssetRef(name="o", uri="o"), AssetAliasRef(name="al")],
        is_setup=True,
    )
    dag = SerializedDag(
        dag_id="d",
        tasks=[task],
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        params={"p": SerializedParam(has_default=True, default=None, schema={"type": "null"})},
        watchers=[
            SerializedWatcher(
                name="w",
                asset=AssetRef(name="o", uri="o"),
                trigger_classpath="m.T",
                trigger_kwargs={"q": "x"},
            )
        ],
    )
    decoded = _round_trip(dag)
    assert decoded.tasks == [task]
    assert decoded.params["p"].has_default
    assert decoded.watchers == dag.watchers
    assert decoded.start_date == dag.start_date


def test_unknown_fields_are_ignored_and_missing_ones_default() -> None:
    newer = (
        b'{"dag_id":"d","field_from_the_future":1,"tasks":[{"task_id":"t",'
        b'"operator_class":"m.Op","operator_name":"Op","new_task_field":[1]}]}'
    )
    decoded = decode_dag(compress(newer), MiB)
    assert decoded.tasks[0].retries == 0
    assert decoded.tasks[0].pool == "default_pool"


def test_dates_must_be_timezone_aware() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(
            b'{"dag_id":"d","start_date":"2024-01-01T00:00:00"}', type=SerializedDag
        )


def test_trigger_rules_are_airflow_3s() -> None:
    assert TriggerRule.all_triggers() == {
        "all_success",
        "all_failed",
        "all_done",
        "all_done_min_one_success",
        "all_done_setup_success",
        "one_success",
        "one_failed",
        "one_done",
        "none_failed",
        "none_failed_min_one_success",
        "none_skipped",
        "always",
        "all_skipped",
    }
    assert TriggerRule.is_valid("one_done")
    assert not TriggerRule.is_valid("dummy")


def test_structs_are_frozen() -> None:
    dag = SerializedDag(dag_id="d")
    with pytest.raises(AttributeError):
        dag.dag_id = "other"  # type: ignore[misc]
