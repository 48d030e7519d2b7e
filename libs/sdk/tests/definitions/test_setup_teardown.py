"""Setup and teardown tasks and the dependencies Airflow gives them."""

from __future__ import annotations

import pytest

from airlock.sdk import DAG, DagDefinitionError, EmptyOperator, TaskGroup, TriggerRule, task


def test_decorators_and_as_teardown(load_dags) -> None:
    dag = load_dags("setup_teardown.py")["setup_teardown"]
    create, delete = dag.get_task("create_cluster"), dag.get_task("delete_cluster")
    assert create.is_setup
    assert not create.is_teardown
    assert delete.is_teardown
    assert delete.trigger_rule == TriggerRule.ALL_DONE_SETUP_SUCCESS
    assert delete.upstream_task_ids == {"create_cluster", "run_query"}
    bucket_teardown = dag.get_task("delete_bucket")
    assert dag.get_task("create_bucket").is_setup
    assert bucket_teardown.is_teardown


def test_context_manager_wraps_tasks_created_inside(load_dags) -> None:
    dag = load_dags("setup_teardown.py")["setup_teardown"]
    assert dag.get_task("load_1").upstream_task_ids == {"create_bucket"}
    assert dag.get_task("load_2").downstream_task_ids == {"delete_bucket"}
    assert dag.get_task("delete_bucket").upstream_task_ids == {"create_bucket", "load_2"}


def test_with_setup_shift_teardown() -> None:
    with DAG("st", schedule=None):
        s = EmptyOperator(task_id="s").as_setup()
        t = EmptyOperator(task_id="t").as_teardown(on_failure_fail_dagrun=True)
        with s >> t:
            work = EmptyOperator(task_id="work")
    assert work.upstream_task_ids == {"s"}
    assert work.downstream_task_ids == {"t"}
    assert t.on_failure_fail_dagrun


def test_teardown_is_not_a_group_leaf() -> None:
    with DAG("st", schedule=None):
        with TaskGroup("g") as group:
            s = EmptyOperator(task_id="s").as_setup()
            w = EmptyOperator(task_id="w")
            t = EmptyOperator(task_id="t").as_teardown(setups=s)
            s >> w >> t
        after = EmptyOperator(task_id="after")
        group >> after
    assert after.upstream_task_ids == {"g.w"}


def test_only_setup_or_teardown_can_be_context_managers() -> None:
    with DAG("st", schedule=None):
        plain = EmptyOperator(task_id="plain")
        with pytest.raises(DagDefinitionError, match="context managers"), plain:
            pass


def test_xcomarg_as_teardown() -> None:
    with DAG("st", schedule=None):

        @task
        def make():
            return 1

        @task
        def clean():
            return 2

        made = make()
        cleaned = clean().as_teardown(setups=made)
    assert made.operator.is_setup
    assert cleaned.operator.is_teardown
    assert cleaned.operator.upstream_task_ids == {"make"}
