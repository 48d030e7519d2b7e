"""PythonOperator and @task: arguments, context injection, multiple_outputs, XCom."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airlock.sdk import DAG, AirlockSdkError, PythonOperator, get_current_context, task
from airlock.sdk.exceptions import AirlockException
from airlock.sdk.testing import InMemoryComms, run_task

LOGICAL = datetime(2024, 1, 2, tzinfo=UTC)


def test_python_operator_passes_args_kwargs_and_requested_context() -> None:
    seen = {}

    def work(a, b, ds=None, ti=None, *, flag=False):
        seen.update(a=a, b=b, ds=ds, ti=ti.task_id, flag=flag)
        return a + b

    with DAG("py", schedule=None):
        op = PythonOperator(
            task_id="work", python_callable=work, op_args=[1], op_kwargs={"b": 2, "flag": True}
        )
    outcome = run_task(op, logical_date=LOGICAL)
    assert outcome.state == "success"
    assert outcome.return_value == 3
    assert seen == {"a": 1, "b": 2, "ds": "2024-01-02", "ti": "work", "flag": True}


def test_kwargs_function_gets_the_whole_context() -> None:
    with DAG("py", schedule=None):
        op = PythonOperator(task_id="all", python_callable=lambda **context: sorted(context))
    keys = run_task(op, logical_date=LOGICAL).return_value
    for key in ("ds", "ti", "dag", "params", "logical_date", "run_id", "templates_dict"):
        assert key in keys


def test_taskflow_etl_end_to_end(load_dags) -> None:
    dag = load_dags("taskflow_etl.py")["tutorial_taskflow_api"]
    comms = InMemoryComms()
    for task_id in ("extract", "transform", "load"):
        outcome = run_task(dag.get_task(task_id), logical_date=LOGICAL, comms=comms)
        assert outcome.state == "success"
    assert comms.xcoms_of("transform") == {
        "return_value": {"total_order_value": 1236.7, "order_count": 3},
        "total_order_value": 1236.7,
        "order_count": 3,
    }
    assert comms.xcoms_of("load")["return_value"] == "3 orders, total 1236.70"


def test_multiple_outputs_inferred_from_dict_annotation() -> None:
    with DAG("py", schedule=None):

        @task
        def typed() -> dict[str, int]:
            return {"a": 1}

        @task
        def untyped():
            return {"a": 1}

        t, u = typed(), untyped()
    assert t.operator.multiple_outputs
    assert not u.operator.multiple_outputs


def test_multiple_outputs_requires_a_dict() -> None:
    with DAG("py", schedule=None):

        @task(multiple_outputs=True)
        def wrong():
            return [1, 2]

        op = wrong().operator
    with pytest.raises(AirlockException, match="must return a dict"):
        run_task(op)


def test_xcom_push_and_pull_through_ti() -> None:
    with DAG("py", schedule=None):

        @task
        def push(ti=None):
            ti.xcom_push(key="extra", value={"n": 1})
            return "done"

        @task
        def pull(ti=None):
            return [
                ti.xcom_pull(task_ids="push"),
                ti.xcom_pull(task_ids="push", key="extra"),
                ti.xcom_pull(task_ids=["push", "push"]),
                ti.xcom_pull(task_ids="absent", default="dflt"),
            ]

        pushed = push()
        pulled = pull()
        pushed >> pulled
    comms = InMemoryComms()
    run_task(pushed.operator, comms=comms)
    assert run_task(pulled.operator, comms=comms).return_value == [
        "done",
        {"n": 1},
        ["done", "done"],
        "dflt",
    ]


def test_get_current_context_inside_and_outside_a_task() -> None:
    with DAG("py", schedule=None):

        @task
        def inside():
            return get_current_context()["ds"]

        op = inside().operator
    assert run_task(op, logical_date=LOGICAL).return_value == "2024-01-02"
    with pytest.raises(AirlockSdkError, match="only available inside a running task"):
        get_current_context()


def test_decorated_function_is_still_callable_directly() -> None:
    @task
    def plain(x):
        return x * 2

    assert plain.function(4) == 8
    assert plain.__name__ == "plain"


def test_override_changes_operator_arguments() -> None:
    with DAG("py", schedule=None):

        @task(retries=1)
        def t():
            return 1

        op = t.override(task_id="renamed", retries=4, pool="p")().operator
    assert (op.task_id, op.retries, op.pool) == ("renamed", 4, "p")


def test_docstring_becomes_doc_md() -> None:
    with DAG("py", schedule=None):

        @task
        def documented():
            """Explains itself."""

        op = documented().operator
    assert op.doc_md == "Explains itself."


def test_non_json_xcom_is_refused_in_tests() -> None:
    with DAG("py", schedule=None):
        op = PythonOperator(task_id="obj", python_callable=object)
    with pytest.raises(TypeError, match="not JSON-serializable"):
        run_task(op)
