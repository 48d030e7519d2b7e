"""Branching with @task.branch and BranchPythonOperator, joined with a trigger rule."""

from datetime import datetime

from airlock.sdk import DAG, BranchPythonOperator, EmptyOperator, Label, TriggerRule, task

with DAG("branching", start_date=datetime(2024, 1, 1), schedule="0 6 * * 1-5") as dag:
    start = EmptyOperator(task_id="start")

    @task.branch
    def choose(**context):
        return "weekday" if context["logical_date"].weekday() < 5 else "weekend"

    weekday = EmptyOperator(task_id="weekday")
    weekend = EmptyOperator(task_id="weekend")
    join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)

    chosen = choose()
    start >> chosen
    chosen >> Label("Mon-Fri") >> weekday >> join
    chosen >> Label("Sat-Sun") >> weekend >> join

    classic = BranchPythonOperator(
        task_id="classic_branch", python_callable=lambda: ["left", "right"]
    )
    join >> classic >> [EmptyOperator(task_id="left"), EmptyOperator(task_id="right")]
    classic >> EmptyOperator(task_id="never")
