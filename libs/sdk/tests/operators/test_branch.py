"""Branching and short-circuiting: what the task decided to follow and to skip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airlock.sdk import DAG, BranchDecision, BranchPythonOperator, EmptyOperator, TaskGroup
from airlock.sdk.exceptions import AirlockException
from airlock.sdk.testing import InMemoryComms, run_task

MONDAY = datetime(2024, 1, 1, tzinfo=UTC)
SATURDAY = datetime(2024, 1, 6, tzinfo=UTC)


def test_task_branch_follows_the_returned_task(load_dags) -> None:
    dag = load_dags("branching.py")["branching"]
    choose = dag.get_task("choose")
    assert choose.is_branch
    comms = InMemoryComms()
    outcome = run_task(choose, logical_date=MONDAY, comms=comms)
    assert outcome.decision == BranchDecision(("weekday",), ("weekend",), "weekday")
    assert comms.xcoms_of("choose") == {"return_value": "weekday"}
    weekend = run_task(choose, logical_date=SATURDAY, comms=comms).decision
    assert weekend is not None
    assert weekend.skip_task_ids == ("weekday",)


def test_classic_branch_with_a_list(load_dags) -> None:
    dag = load_dags("branching.py")["branching"]
    decision = run_task(dag.get_task("classic_branch")).decision
    assert decision is not None
    assert decision.follow_task_ids == ("left", "right")
    assert decision.skip_task_ids == ("never",)


def test_branch_to_a_task_group_follows_its_roots() -> None:
    with DAG("b", schedule=None):
        chooser = BranchPythonOperator(task_id="choose", python_callable=lambda: "grp")
        with TaskGroup("grp") as grp:
            first = EmptyOperator(task_id="first")
            first >> EmptyOperator(task_id="second")
        chooser >> [grp, EmptyOperator(task_id="other")]
    decision = run_task(chooser).decision
    assert decision is not None
    assert decision.follow_task_ids == ("grp.first",)
    assert decision.skip_task_ids == ("other",)


def test_branch_to_unknown_task_fails() -> None:
    with DAG("b", schedule=None):
        chooser = BranchPythonOperator(task_id="choose", python_callable=lambda: "nope")
        chooser >> EmptyOperator(task_id="x")
    with pytest.raises(AirlockException, match="chose 'nope'"):
        run_task(chooser)


def test_branch_returning_none_skips_everything() -> None:
    with DAG("b", schedule=None):
        chooser = BranchPythonOperator(task_id="choose", python_callable=lambda: None)
        chooser >> [EmptyOperator(task_id="x"), EmptyOperator(task_id="y")]
    decision = run_task(chooser).decision
    assert decision is not None
    assert decision.skip_task_ids == ("x", "y")


def test_short_circuit_true_follows_all(load_dags) -> None:
    dag = load_dags("short_circuit.py")["short_circuit"]
    decision = run_task(dag.get_task("always_true")).decision
    assert decision == BranchDecision(("after_true",), (), True)


def test_short_circuit_false_skips_only_direct_when_respecting_trigger_rules(load_dags) -> None:
    dag = load_dags("short_circuit.py")["short_circuit"]
    decision = run_task(dag.get_task("always_false")).decision
    assert decision is not None
    assert decision.skip_task_ids == ("after_false",)


def test_task_short_circuit_skips_everything_downstream(load_dags) -> None:
    dag = load_dags("short_circuit.py")["short_circuit"]
    has_data = dag.get_task("has_data")
    assert has_data.is_short_circuit
    decision = run_task(has_data).decision
    assert decision is not None
    assert decision.skip_task_ids == ("a", "b")
    assert decision.return_value is False
