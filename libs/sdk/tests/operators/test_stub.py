"""StubOperator and @task.stub: foreign-language tasks declared in a Python DAG."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airlock.sdk import DAG, DagDefinitionError, dag, task
from airlock.sdk.exceptions import AirlockException
from airlock.sdk.operators.stub import StubOperator
from airlock.sdk.serialization import serialize_dag
from airlock.sdk.testing import run_task


def test_stub_routes_to_its_queue_and_keeps_dependencies() -> None:
    @dag(schedule=None)
    def mixed():
        @task
        def extract() -> int:
            return 20

        @task.stub(queue="node", retries=1, retry_delay=timedelta(seconds=2))
        def shout(value): ...

        @task
        def load(value: str) -> None:
            print(value)

        load(shout(extract()))

    serialized = serialize_dag(mixed())
    tasks = {t.task_id: t for t in serialized.tasks}
    assert tasks["shout"].queue == "node"
    assert tasks["shout"].operator_name == "@task.stub"
    assert tasks["shout"].retries == 1
    assert tasks["shout"].upstream == ["extract"]
    assert tasks["load"].upstream == ["shout"]
    assert tasks["extract"].queue == "default"


def test_classic_stub_operator_and_default_args_queue() -> None:
    with DAG("classic", schedule=None, default_args={"queue": "node"}) as classic:
        StubOperator(task_id="from_defaults")
        StubOperator(task_id="explicit", queue="go")
    tasks = {t.task_id: t for t in serialize_dag(classic).tasks}
    assert tasks["from_defaults"].queue == "node"
    assert tasks["explicit"].queue == "go"


def test_stub_on_the_default_queue_is_refused() -> None:
    @dag(schedule=None)
    def no_queue():
        @task.stub
        def shout(): ...

        shout()

    with pytest.raises(DagDefinitionError, match="needs queue= naming the queue its runner"):
        no_queue()


def test_stub_with_a_body_is_refused() -> None:
    @dag(schedule=None)
    def has_body():
        @task.stub(queue="node")
        def shout():
            return "this would never run"

        shout()

    with pytest.raises(DagDefinitionError, match=r"shout\(\) must have an empty body"):
        has_body()


def test_docstring_and_pass_are_an_empty_body() -> None:
    @dag(schedule=None)
    def documented():
        @task.stub(queue="node")
        def shout():
            """Upper-cases its input; see tasks.mjs."""
            pass

        shout()

    assert documented().task_dict["shout"].doc_md == "Upper-cases its input; see tasks.mjs."


def test_a_python_worker_running_a_stub_fails_naming_the_queue() -> None:
    with DAG("misrouted", schedule=None):
        stub = StubOperator(task_id="shout", queue="node")
    with pytest.raises(AirlockException, match="the runner that serves queue 'node' runs it"):
        run_task(stub)
