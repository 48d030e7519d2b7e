"""``dag.test()``: a whole run in this process, with the scheduler's rules."""

from __future__ import annotations

import pendulum
import pytest

from airlock.sdk import DAG, EmptyOperator, Param, ParamValidationError, TriggerRule, task
from airlock.sdk.operators.python import ShortCircuitOperator


def _dag() -> DAG:
    with DAG(
        "local", start_date=pendulum.datetime(2021, 1, 1), params={"n": Param(3, type="integer")}
    ) as dag:

        @task
        def make(params: dict[str, int] | None = None) -> list[int]:
            assert params is not None
            return list(range(params["n"]))

        @task
        def double(x: int) -> int:
            return x * 2

        @task
        def total(xs: list[int]) -> int:
            return sum(xs)

        @task.branch
        def pick() -> str:
            return "yes"

        yes = EmptyOperator(task_id="yes")
        no = EmptyOperator(task_id="no")
        join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)

        @task(retries=2)
        def flaky(ti: object = None) -> int:
            number: int = ti.try_number  # type: ignore[attr-defined]
            if number < 2:
                raise ValueError("first try fails")
            return number

        @task
        def empty() -> list[int]:
            return []

        @task
        def never(x: int) -> int:
            return x

        gate = ShortCircuitOperator(task_id="gate", python_callable=lambda: False)
        cleanup = EmptyOperator(task_id="cleanup", trigger_rule=TriggerRule.ALL_DONE)
        total(double.expand(x=make())) >> pick() >> [yes, no] >> join >> flaky() >> gate >> cleanup
        never.expand(x=empty())
    return dag


def test_a_run_follows_trigger_rules_branches_mapping_and_retries() -> None:
    lines: list[str] = []
    from airlock.sdk.execution_time.local_run import run_dag

    result = run_dag(_dag(), conf={"n": 4}, report=lines.append)
    assert result.state == "success"
    assert result.xcom("double") == [0, 2, 4, 6]
    assert result.xcom("total") == 12
    assert result.state_of("no") == "skipped"
    assert result.state_of("join") == "success"
    assert result.xcom("flaky") == 2
    assert result.state_of("cleanup") == "skipped"
    assert result.task_states[("never", -1)] == "skipped"
    assert "flaky: try 1 failed: ValueError('first try fails')" in lines


def test_a_failure_fails_the_run_and_its_downstream() -> None:
    with DAG("failing", start_date=pendulum.datetime(2021, 1, 1)) as dag:

        @task
        def boom() -> None:
            raise RuntimeError("on purpose")

        after = EmptyOperator(task_id="after")
        boom() >> after
    result = dag.test()
    assert result.state == "failed"
    assert result.state_of("boom") == "failed"
    assert result.state_of("after") == "upstream_failed"
    assert isinstance(result.errors[("boom", -1)], RuntimeError)


def test_an_invalid_conf_is_refused_before_any_task_runs() -> None:
    lines: list[str] = []
    from airlock.sdk.execution_time.local_run import run_dag

    with pytest.raises(ParamValidationError, match="param 'n'"):
        run_dag(_dag(), conf={"n": "three"}, report=lines.append)
    assert lines == []
