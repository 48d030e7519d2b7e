"""Branching and short-circuiting, joined with a trigger rule, with labelled edges."""

from __future__ import annotations

import pendulum

from airlock.sdk import DAG, EmptyOperator, Label, TriggerRule, task

with DAG(
    dag_id="branching",
    schedule="0 6 * * 1-5",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    is_paused_upon_creation=False,
    tags=["example", "branching"],
    params={"mode": "fast"},
):

    @task.branch
    def choose(**context) -> str:
        return "fast_path" if context["params"]["mode"] == "fast" else "slow_path"

    @task.short_circuit
    def worth_reporting() -> bool:
        return True

    fast = EmptyOperator(task_id="fast_path")
    slow = EmptyOperator(task_id="slow_path")
    join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    report = EmptyOperator(task_id="report")

    decision = choose()
    decision >> Label("params.mode == fast") >> fast >> join
    decision >> Label("otherwise") >> slow >> join
    join >> worth_reporting() >> report
