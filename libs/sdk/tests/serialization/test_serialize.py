"""DAG → SerializedDag: what each example DAG looks like to the scheduler and the web."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from airlock.models.codec import compress, decode_dag, encode_dag, normalize_dag
from airlock.models.dag import (
    AssetAliasRef,
    AssetAllCond,
    AssetAnyCond,
    AssetRef,
    AssetSchedule,
    CronSchedule,
    DeltaSchedule,
    MappedArg,
    NoSchedule,
    SerializedDag,
    SerializedEdge,
    SerializedTask,
    TriggerRule,
    XComRef,
)
from airlock.sdk import DAG, DagDefinitionError, EmptyOperator, Param, PythonOperator, chain
from airlock.sdk.serialization import serialize_dag

DAGS_DIR = Path(__file__).parents[1] / "dags"
DAG_FILES = sorted(p.name for p in DAGS_DIR.glob("*.py"))

MAX = 10 * 1024 * 1024


def _tasks(serialized: SerializedDag) -> dict[str, SerializedTask]:
    return {t.task_id: t for t in serialized.tasks}


@pytest.mark.parametrize("name", DAG_FILES)
def test_every_example_round_trips(load_dags, name: str) -> None:
    for dag in load_dags(name).values():
        serialized = serialize_dag(dag, bundle_root=str(dag.fileloc).rsplit("/", 2)[0])
        blob = compress(encode_dag(serialized))
        assert decode_dag(blob, MAX) == normalize_dag(serialized)
        assert serialized.relative_fileloc == f"dags/{name}"


def test_taskflow_etl(load_dags) -> None:
    serialized = serialize_dag(load_dags("taskflow_etl.py")["tutorial_taskflow_api"])
    assert serialized.schedule == CronSchedule(expr="0 0 * * *", timezone="UTC")
    assert serialized.timetable_summary == "@daily"
    assert serialized.start_date == datetime(2024, 1, 1, tzinfo=UTC)
    assert serialized.catchup is False
    assert serialized.tags == ["etl", "example"]
    assert serialized.owners == ["data-eng"]
    assert serialized.dagrun_timeout == 3600
    assert serialized.doc_md is not None
    assert serialized.doc_md.startswith("### TaskFlow ETL")
    tasks = _tasks(serialized)
    load = tasks["load"]
    assert (load.retries, load.pool, load.priority_weight, load.retry_delay) == (
        5,
        "loaders",
        3,
        60,
    )
    assert load.upstream == ["transform"]
    assert load.operator_name == "@task"
    assert load.operator_class.endswith("_PythonDecoratedOperator")
    assert tasks["extract"].retries == 2
    assert tasks["extract"].priority_weight_total == 5
    assert SerializedEdge(source="extract", target="transform") in serialized.edges


def test_dynamic_mapping_spec(load_dags) -> None:
    tasks = _tasks(serialize_dag(load_dags("dynamic_mapping.py")["dynamic_mapping"]))
    literal = tasks["add"].mapped
    assert literal is not None
    assert literal.kind == "expand"
    assert literal.args == [MappedArg(name="x", length=2, values=[1, 2])]
    assert literal.partial_keys == ["y"]
    upstream = tasks["add_upstream"].mapped
    assert upstream is not None
    assert upstream.args == [MappedArg(name="x", xcom=XComRef(task_id="make_list"))]
    cross = tasks["cross"].mapped
    assert cross is not None
    assert [a.name for a in cross.args] == ["x", "y"]
    kwargs = tasks["bash_kwargs"].mapped
    assert kwargs is not None
    assert kwargs.kind == "expand_kwargs"
    assert kwargs.kwargs_xcom == XComRef(task_id="commands")
    assert tasks["bash_kwargs"].retries == 1
    literal_bash = tasks["bash_literal"].mapped
    assert literal_bash is not None
    assert literal_bash.args[0].values == ["echo a", "echo b", "echo c"]
    assert tasks["total"].mapped is None


def test_branching_labels_and_flags(load_dags) -> None:
    serialized = serialize_dag(load_dags("branching.py")["branching"])
    tasks = _tasks(serialized)
    assert tasks["choose"].is_branch
    assert tasks["classic_branch"].is_branch
    assert tasks["join"].trigger_rule == TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
    assert SerializedEdge(source="choose", target="weekday", label="Mon-Fri") in serialized.edges
    assert SerializedEdge(source="choose", target="weekend", label="Sat-Sun") in serialized.edges
    assert tasks["start"].is_empty


def test_short_circuit_flags(load_dags) -> None:
    tasks = _tasks(serialize_dag(load_dags("short_circuit.py")["short_circuit"]))
    assert tasks["has_data"].is_short_circuit
    assert tasks["always_false"].is_short_circuit
    assert not tasks["a"].is_short_circuit


def test_task_groups(load_dags) -> None:
    serialized = serialize_dag(load_dags("task_groups.py")["task_groups"])
    groups = {g.group_id: g for g in serialized.task_groups}
    assert set(groups) == {"section_1", "section_1.inner", "section_2", "section_2.nested"}
    assert groups["section_1"].tooltip == "Tasks for section 1"
    assert groups["section_1"].children == ["section_1.inner", "section_1.task_1"]
    assert groups["section_1.inner"].parent == "section_1"
    assert groups["section_2"].tooltip == "Section two."
    assert groups["section_2.nested"].parent == "section_2"
    tasks = _tasks(serialized)
    assert tasks["section_1.inner.a"].group_id == "section_1.inner"
    assert tasks["section_1.inner.a"].retries == 4
    # The @task_group function returns its last task, so dependencies bind to that task.
    assert tasks["section_2.nested.step"].upstream == ["section_1.inner.b", "section_2.step__1"]
    assert tasks["section_2.step__1"].upstream == ["section_2.step"]
    assert tasks["end"].upstream == ["section_2.nested.step"]


def test_setup_teardown(load_dags) -> None:
    tasks = _tasks(serialize_dag(load_dags("setup_teardown.py")["setup_teardown"]))
    assert tasks["create_cluster"].is_setup
    assert tasks["delete_cluster"].is_teardown
    assert tasks["delete_cluster"].trigger_rule == TriggerRule.ALL_DONE_SETUP_SUCCESS
    assert tasks["delete_bucket"].upstream == ["create_bucket", "load_2"]


def test_sensors(load_dags) -> None:
    tasks = _tasks(serialize_dag(load_dags("sensors.py")["sensors"]))
    decorated = tasks["wait_for_upstream"].sensor
    assert decorated is not None
    assert (decorated.mode, decorated.poke_interval, decorated.timeout) == ("reschedule", 30, 3600)
    assert decorated.soft_fail
    classic = tasks["wait_for_files"].sensor
    assert classic is not None
    assert (classic.mode, classic.poke_interval, classic.timeout) == ("poke", 300, 7200)
    assert classic.exponential_backoff
    assert tasks["wait_for_files"].template_values == {"path": "/data/{{ ds }}"}
    assert tasks["wait_for_files"].operator_class == "sensors.FileCountSensor"


def test_bash_templating(load_dags) -> None:
    serialized = serialize_dag(load_dags("bash_templating.py")["bash_templating"])
    templated = _tasks(serialized)["templated"]
    assert templated.template_values["bash_command"].startswith("echo {{ ds }}")
    assert templated.template_values["env"] == {"RUN_ID": "{{ run_id }}"}
    assert templated.template_ext == [".sh", ".bash"]
    assert serialized.params["env"].default == "staging"
    assert serialized.params["env"].schema == {"type": "string", "enum": ["staging", "prod"]}
    assert serialized.schedule == CronSchedule(expr="30 2 * * *")


def test_asset_schedules_watchers_and_outlets(load_dags) -> None:
    dags = {k: serialize_dag(v) for k, v in load_dags("asset_scheduled.py").items()}
    orders = AssetRef(
        name="orders", uri="s3://warehouse/orders", group="sales", extra={"team": "sales"}
    )
    customers = AssetRef(name="s3://warehouse/customers", uri="s3://warehouse/customers")
    inventory = AssetRef(name="inventory", uri="inventory")
    assert dags["consumer_expr"].schedule == AssetSchedule(
        condition=AssetAnyCond(items=[AssetAllCond(items=[orders, customers]), inventory])
    )
    assert dags["consumer_list"].schedule == AssetSchedule(
        condition=AssetAllCond(items=[orders, customers])
    )
    assert dags["consumer_list"].timetable_summary == "Asset"
    producer = _tasks(dags["producer"])["produce"]
    assert producer.outlets == [orders, AssetAliasRef(name="daily-exports")]
    assert _tasks(dags["consumer_expr"])["consume"].inlets == [orders]
    [watcher] = dags["watched"].watchers
    assert watcher.name == "queue_watcher"
    assert watcher.asset.name == "queue-events"
    assert watcher.trigger_classpath == "asset_scheduled.QueueMessageTrigger"
    assert watcher.trigger_kwargs == {"queue": "orders-q", "poll_interval": 5.0}


def test_classic_operators(load_dags) -> None:
    serialized = serialize_dag(load_dags("classic_operators.py")["classic_operators"])
    assert serialized.schedule == DeltaSchedule(seconds=6 * 3600)
    assert serialized.end_date == datetime(2025, 1, 1, tzinfo=UTC)
    assert (serialized.max_active_runs, serialized.max_active_tasks) == (2, 8)
    assert serialized.max_consecutive_failed_dag_runs == 5
    assert serialized.has_on_failure_callback
    assert not serialized.has_on_success_callback
    assert serialized.is_paused_upon_creation is True
    assert serialized.dag_display_name == "Classic operators"
    assert serialized.description == "Classic operators"
    tasks = _tasks(serialized)
    push = tasks["push"]
    assert (push.owner, push.retries, push.retry_delay, push.queue) == ("ops", 3, 30, "fast")
    assert push.retry_exponential_backoff
    assert (push.max_retry_delay, push.execution_timeout) == (600, 1200)
    assert push.has_on_failure_callback
    assert push.depends_on_past
    assert tasks["use"].upstream == ["push"]
    bash = tasks["bash"]
    assert (bash.weight_rule, bash.priority_weight_total, bash.pool_slots) == ("absolute", 10, 2)
    assert bash.task_display_name == "Say the rows"
    assert tasks["d"].has_on_success_callback
    assert not tasks["d"].is_empty
    assert tasks["c"].upstream == ["a", "b", "d"]
    assert tasks["trigger_other"].template_values["conf"] == {"from": "{{ run_id }}"}


def test_priority_weight_rules() -> None:
    with DAG("weights", schedule=None) as dag:
        a = EmptyOperator(task_id="a", priority_weight=2)
        b = EmptyOperator(task_id="b", priority_weight=3, weight_rule="upstream")
        c = EmptyOperator(task_id="c", priority_weight=5)
        d = EmptyOperator(task_id="d")
        chain(a, [b, c], d)
    totals = {t.task_id: t.priority_weight_total for t in serialize_dag(dag).tasks}
    assert totals == {"a": 11, "b": 5, "c": 6, "d": 1}


def test_no_schedule_and_non_json_values() -> None:
    with DAG("odd", params={"when": Param(datetime(2024, 1, 1))}) as dag:
        PythonOperator(task_id="p", python_callable=print, op_kwargs={"obj": object()})
    serialized = serialize_dag(dag)
    assert serialized.schedule == NoSchedule()
    assert serialized.params["when"].default == "2024-01-01T00:00:00"
    assert "op_kwargs" not in serialized.tasks[0].template_values


def test_non_json_param_default_is_an_error() -> None:
    with DAG("bad_param", params={"obj": Param(object())}) as dag:
        pass
    with pytest.raises(DagDefinitionError, match="DAG 'bad_param': param 'obj'"):
        serialize_dag(dag)


def test_serialize_validates() -> None:
    with DAG("later", schedule=None) as dag:
        a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
        a >> b
    b >> a
    with pytest.raises(DagDefinitionError, match="cycle"):
        serialize_dag(dag)


def test_ten_thousand_tasks() -> None:
    with DAG("big", schedule="@daily") as dag:
        tasks = [EmptyOperator(task_id=f"t{i:05d}") for i in range(10_000)]
        chain(*tasks)
    serialized = serialize_dag(dag)
    assert len(serialized.tasks) == 10_000
    assert serialized.tasks[0].priority_weight_total == 10_000
    assert len(compress(encode_dag(serialized))) < 200_000


def test_deadline_alerts_are_serialized_in_order() -> None:
    from datetime import timedelta

    from airlock.models.dag import SerializedDeadline
    from airlock.sdk import DeadlineAlert, DeadlineReference

    def alert(context: object) -> None:
        pass

    fixed = datetime(2026, 12, 24, tzinfo=UTC)
    with DAG(
        "deadlines",
        schedule=None,
        deadline=[
            DeadlineAlert(
                reference=DeadlineReference.DAGRUN_QUEUED_AT,
                interval=timedelta(minutes=5),
                callback=alert,
            ),
            DeadlineAlert(
                reference=DeadlineReference.FIXED_DATETIME(fixed),
                interval=timedelta(0),
                callback=[alert, alert],
            ),
            DeadlineAlert(
                reference=DeadlineReference.AVERAGE_RUNTIME(max_runs=5, min_runs=2),
                interval=timedelta(seconds=30),
                callback=alert,
            ),
        ],
    ) as dag:
        EmptyOperator(task_id="a")
    assert serialize_dag(dag).deadlines == [
        SerializedDeadline(reference="dagrun_queued_at", interval_s=300),
        SerializedDeadline(reference="fixed_datetime", interval_s=0, fixed_at=fixed),
        SerializedDeadline(reference="average_runtime", interval_s=30, max_runs=5, min_runs=2),
    ]


def test_a_deadline_that_is_not_an_alert_is_an_error() -> None:
    with pytest.raises(DagDefinitionError, match="deadline must be a DeadlineAlert"):
        DAG("bad_deadline", schedule=None, deadline="in an hour")
