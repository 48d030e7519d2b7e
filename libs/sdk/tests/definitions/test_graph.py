"""Dependencies: >>, <<, lists, chain, cross_downstream, labels, task groups, XComArgs."""

from __future__ import annotations

from datetime import datetime

import pytest

from airlock.sdk import (
    DAG,
    DagDefinitionError,
    EmptyOperator,
    Label,
    TaskGroup,
    XComArg,
    chain,
    chain_linear,
    cross_downstream,
    task,
)


def _ops(*names: str) -> list[EmptyOperator]:
    return [EmptyOperator(task_id=n) for n in names]


def test_shift_operators_and_lists() -> None:
    with DAG("g", schedule=None) as dag:
        a, b, c, d, e = _ops("a", "b", "c", "d", "e")
        result = a >> [b, c] >> d
        e << d
    assert result is d
    assert a.downstream_task_ids == {"b", "c"}
    assert d.upstream_task_ids == {"b", "c"}
    assert e.upstream_task_ids == {"d"}
    assert [t.task_id for t in dag.roots] == ["a"]
    assert [t.task_id for t in dag.leaves] == ["e"]


def test_reverse_list_shifts() -> None:
    with DAG("g", schedule=None):
        a, b, c = _ops("a", "b", "c")
        [a, b] << c
    assert c.downstream_task_ids == {"a", "b"}


def test_chain_pairs_lists_and_rejects_unequal_lengths() -> None:
    with DAG("chained", schedule=None):
        a, b, c, d, e, f = _ops("a", "b", "c", "d", "e", "f")
        chain(a, [b, c], [d, e], f)
        assert b.downstream_task_ids == {"d"}
        assert c.downstream_task_ids == {"e"}
        assert f.upstream_task_ids == {"d", "e"}
        with pytest.raises(DagDefinitionError, match="lists of 2 and 3"):
            chain([a, b], [c, d, e])


def test_chain_linear_and_cross_downstream() -> None:
    with DAG("g", schedule=None):
        a, b, c, d, e = _ops("a", "b", "c", "d", "e")
        chain_linear([a, b], [c, d], e)
        assert c.upstream_task_ids == {"a", "b"} == d.upstream_task_ids
        x, y, z, w = _ops("x", "y", "z", "w")
        cross_downstream([x, y], [z, w])
    assert z.upstream_task_ids == {"x", "y"} == w.upstream_task_ids


def test_labels_mark_edges() -> None:
    with DAG("labels", schedule=None) as dag:
        a, b, c, d = _ops("a", "b", "c", "d")
        a >> Label("on success") >> [b, c]
        [b, c] >> Label("join") >> d
    assert dag.get_edge_label("a", "b") == "on success"
    assert dag.get_edge_label("a", "c") == "on success"
    assert dag.get_edge_label("c", "d") == "join"
    assert d.upstream_task_ids == {"b", "c"}


def test_label_in_chain() -> None:
    with DAG("labels", schedule=None) as dag:
        a, b = _ops("a", "b")
        chain(a, Label("x"), b)
    assert dag.get_edge_label("a", "b") == "x"


def test_task_group_prefixes_and_dependencies() -> None:
    with DAG("groups", schedule=None) as dag:
        start, end = _ops("start", "end")
        with TaskGroup("outer") as outer:
            first = EmptyOperator(task_id="first")
            with TaskGroup("inner") as inner:
                deep = EmptyOperator(task_id="deep")
            first >> inner
        start >> outer >> end
    assert deep.task_id == "outer.inner.deep"
    assert inner.group_id == "outer.inner"
    assert start.downstream_task_ids == {"outer.first"}
    assert end.upstream_task_ids == {"outer.inner.deep"}
    assert deep.label == "deep"
    assert set(dag.task_group.children) == {"start", "end", "outer"}


def test_task_group_without_prefix() -> None:
    with DAG("groups", schedule=None), TaskGroup("g", prefix_group_id=False):
        op = EmptyOperator(task_id="plain")
    assert op.task_id == "plain"


def test_group_default_args_apply_to_members() -> None:
    with DAG("groups", schedule=None, default_args={"retries": 1, "queue": "q1"}):
        with TaskGroup("g", default_args={"retries": 5}):
            inside = EmptyOperator(task_id="inside")
        outside = EmptyOperator(task_id="outside")
    assert (inside.retries, inside.queue) == (5, "q1")
    assert outside.retries == 1


def test_xcomarg_creates_dependency_and_keys() -> None:
    with DAG("xcom", schedule=None):

        @task(multiple_outputs=True)
        def produce():
            return {"a": 1}

        @task
        def consume(value):
            return value

        produced = produce()
        consumed = consume(produced["a"])
    assert isinstance(produced, XComArg)
    assert produced["a"].key == "a"
    assert consumed.operator.upstream_task_ids == {"produce"}
    with pytest.raises(TypeError, match="cannot be iterated"):
        list(produced)


def test_operator_output_wires_classic_operators() -> None:
    from airlock.sdk import PythonOperator

    with DAG("classic", schedule=None):
        first = PythonOperator(task_id="first", python_callable=lambda: 1)
        second = PythonOperator(
            task_id="second", python_callable=lambda x: x, op_kwargs={"x": first.output}
        )
    assert second.upstream_task_ids == {"first"}


def test_tasks_of_different_dags_cannot_depend_on_each_other() -> None:
    with DAG("one", schedule=None):
        a = EmptyOperator(task_id="a")
    with DAG("two", schedule=None):
        b = EmptyOperator(task_id="b")
    with pytest.raises(DagDefinitionError, match="same DAG"):
        a >> b


def test_task_without_dag_joins_the_dag_of_its_relative() -> None:
    loose = EmptyOperator(task_id="loose")
    with DAG("adopting", schedule=None) as dag:
        inside = EmptyOperator(task_id="inside")
    inside >> loose
    assert loose.dag is dag
    assert dag.has_task("loose")


def test_task_added_after_the_block_closed() -> None:
    with DAG("late", schedule=None) as dag:
        first = EmptyOperator(task_id="first")
    late = EmptyOperator(task_id="late", dag=dag)
    first >> late
    assert dag.task_ids == ["first", "late"]


def test_decorated_task_called_twice_gets_suffixes() -> None:
    with DAG("twice", schedule=None) as dag:

        @task
        def step():
            return 1

        step()
        step()
        step.override(task_id="named")()
        step()
    assert dag.task_ids == ["step", "step__1", "named", "step__2"]


def test_start_date_and_dates_are_made_aware() -> None:
    dag = DAG("dates", schedule="@daily", start_date=datetime(2024, 1, 1))
    assert dag.start_date is not None
    assert dag.start_date.tzinfo is not None
    assert dag.timezone == "UTC"


def test_label_is_an_edge_modifier_class() -> None:
    from airlock.sdk import EdgeModifier

    label = Label("x")
    assert isinstance(label, Label)
    assert isinstance(label, EdgeModifier)
    assert label.label == "x"
