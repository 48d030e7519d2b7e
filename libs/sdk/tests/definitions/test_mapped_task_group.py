"""Mapped task groups: each @task called with the group's argument (or a task mapped inside the
group) is mapped, instance i on item i; with expand_kwargs, on the keys of dict i."""

from __future__ import annotations

import pendulum
import pytest

from airlock.sdk import DAG, DagDefinitionError, MappedOperator, task, task_group
from airlock.sdk.serialization import serialize_dag


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
        with pytest.raises(DagDefinitionError, match="element 0 sets 'middle', which is no "):
            pair.expand_kwargs([{"left": "a", "middle": "b"}])
        with pytest.raises(DagDefinitionError, match="sets 'right', which is given to partial"):
            pair.partial(right="b").expand_kwargs([{"left": "a", "right": "b"}])
        with pytest.raises(DagDefinitionError, match="element 1 must be a dict"):
            pair.expand_kwargs([{"left": "a"}, "right"])
        with pytest.raises(DagDefinitionError, match="cannot expand 'left' over 'abc'"):
            pair.partial(right="b").expand(left="abc")


def _kwargs_group_dag(source: str) -> DAG:
    with DAG(f"mg_kwargs_{source}", start_date=pendulum.datetime(2021, 1, 1)) as dag:

        @task
        def requests() -> list[dict[str, object]]:
            return [{"name": "a", "times": 2}, {"name": "bb", "times": 1}]

        @task_group
        def repeat(name: str, times: int, suffix: str) -> object:
            @task
            def build(text: str, times: int, suffix: str) -> str:
                return (text + suffix) * times

            @task
            def only_name(name: str) -> str:
                return name.upper()

            only_name(name)
            return build(name, times, suffix)

        @task
        def joined(parts: list[str]) -> str:
            return "|".join(parts)

        values = [{"name": "a", "times": 2}, {"name": "bb", "times": 1}]
        kwargs = requests() if source == "xcom" else values
        joined(repeat.partial(suffix="!").expand_kwargs(kwargs))
    return dag


@pytest.mark.parametrize("source", ["literal", "xcom"])
def test_expand_kwargs_maps_each_task_over_the_keys_it_takes(source: str) -> None:
    dag = _kwargs_group_dag(source)
    build = dag.get_task("repeat.build")
    assert isinstance(build, MappedOperator)
    assert isinstance(dag.get_task("repeat.only_name"), MappedOperator)
    result = dag.test()
    assert result.state == "success"
    assert result.xcom("repeat.build") == ["a!a!", "bb!"]
    assert result.xcom("repeat.only_name") == ["A", "BB"]
    assert result.xcom("joined") == "a!a!|bb!"
    if source == "literal":
        spec = serialize_dag(dag).tasks
        mapped = {t.task_id: t.mapped for t in spec}["repeat.build"]
        assert mapped is not None
        assert mapped.kind == "expand_kwargs"
        assert mapped.kwargs_values == [{"text": "a", "times": 2}, {"text": "bb", "times": 1}]
