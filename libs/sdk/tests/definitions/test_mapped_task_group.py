"""Mapped task groups: each @task called with the group's argument (or a task mapped inside the
group) is mapped, instance i on item i."""

from __future__ import annotations

import pendulum
import pytest

from airlock.sdk import DAG, DagDefinitionError, MappedOperator, task, task_group


def test_tasks_inside_a_mapped_group_are_mapped_per_item() -> None:
    with DAG("mg", start_date=pendulum.datetime(2021, 1, 1)) as dag:

        @task_group
        def process(name: str, suffix: str) -> object:
            @task
            def load(name: str, suffix: str) -> str:
                return name + suffix

            @task
            def measure(loaded: str) -> int:
                return len(loaded)

            @task
            def constant() -> int:
                return 1

            constant()
            return measure(load(name, suffix))

        @task
        def total(sizes: list[int]) -> int:
            return sum(sizes)

        total(process.partial(suffix="!").expand(name=["a", "bb"]))
    assert isinstance(dag.get_task("process.load"), MappedOperator)
    assert isinstance(dag.get_task("process.measure"), MappedOperator)
    assert not isinstance(dag.get_task("process.constant"), MappedOperator)
    result = dag.test()
    assert result.state == "success"
    assert result.xcom("process.load") == ["a!", "bb!"]
    assert result.xcom("total") == 5


def test_what_a_mapped_group_cannot_do_is_refused_by_name() -> None:
    with DAG("mg_bad", start_date=pendulum.datetime(2021, 1, 1)):

        @task_group
        def pair(left: str, right: str) -> None:
            @task
            def both(a: str, b: str) -> str:
                return a + b

            both(left, right)

        with pytest.raises(DagDefinitionError, match="exactly one argument"):
            pair.expand(left=["a"], right=["b"])
        with pytest.raises(DagDefinitionError, match="not supported yet"):
            pair.expand_kwargs([{"left": "a", "right": "b"}])
        with pytest.raises(DagDefinitionError, match="cannot expand 'left' over 'abc'"):
            pair.partial(right="b").expand(left="abc")
