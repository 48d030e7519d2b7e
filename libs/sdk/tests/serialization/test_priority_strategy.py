"""Custom priority-weight strategies are evaluated while the file is parsed, once per try, and
shipped with the task; bad strategies are the DAG's parse error, by name."""

from __future__ import annotations

from typing import Any

import pytest

from airlock.models.dag import WeightRule
from airlock.sdk import DAG, DagDefinitionError, PriorityWeightStrategy, task
from airlock.sdk.serialization import serialize_dag


class DecreasingPriority(PriorityWeightStrategy):
    """Each retry goes to the back of the queue."""

    def get_weight(self, ti: Any) -> int:
        return max(10 - 3 * (ti.try_number - 1), 1) + ti.priority_weight


def test_the_strategy_is_asked_once_per_try_and_the_first_weight_is_the_total() -> None:
    with DAG("weights", schedule=None) as dag:

        @task(retries=4, priority_weight=2, weight_rule=DecreasingPriority())
        def fetch() -> None: ...

        @task
        def after() -> None: ...

        fetch() >> after()
    serialized = {t.task_id: t for t in serialize_dag(dag).tasks}
    fetched = serialized["fetch"]
    assert fetched.priority_weight_by_try == [12, 9, 6, 3, 3]
    assert fetched.priority_weight_total == 12
    assert fetched.weight_rule is WeightRule.ABSOLUTE
    assert fetched.weight_strategy == f"{__name__}.DecreasingPriority"
    assert serialized["after"].priority_weight_by_try == []


class Broken(PriorityWeightStrategy):
    def get_weight(self, ti: Any) -> int:
        return ti.dag_run.conf["weight"]  # there is no run while parsing


class NotAnInt(PriorityWeightStrategy):
    def get_weight(self, ti: Any) -> Any:
        return "high"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (Broken(), "Broken failed for try 1: AttributeError"),
        (NotAnInt(), "returned 'high' for try 1; get_weight must return an int"),
        (DecreasingPriority, "is a class; pass an instance: weight_rule=DecreasingPriority()"),
        ("heaviest", "unknown weight_rule 'heaviest'"),
    ],
)
def test_bad_strategies_name_the_problem(rule: Any, message: str) -> None:

    def build() -> None:
        with DAG("bad_weights", schedule=None) as dag:

            @task(weight_rule=rule)
            def t() -> None: ...

            t()
        serialize_dag(dag)

    with pytest.raises(DagDefinitionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build()
