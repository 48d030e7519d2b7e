"""Templated Bash, a sensor in reschedule mode, retries with exponential backoff."""

from __future__ import annotations

from datetime import timedelta

import pendulum

from airlock.sdk import DAG, BashOperator, PokeReturnValue, task

with DAG(
    dag_id="bash_and_sensor",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    is_paused_upon_creation=False,
    tags=["example", "bash"],
    params={"greeting": "hello"},
    default_args={
        "retries": 3,
        "retry_delay": timedelta(seconds=5),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=1),
    },
):

    @task.sensor(poke_interval=5, timeout=600, mode="reschedule")
    def input_ready() -> PokeReturnValue:
        return PokeReturnValue(is_done=True, xcom_value="s3://bucket/input")

    greet = BashOperator(
        task_id="greet",
        bash_command="echo '{{ params.greeting }} for {{ ds }} ({{ run_id }})'",
        execution_timeout=timedelta(minutes=5),
    )

    @task.bash
    def list_tmp() -> str:
        return "ls /tmp | head -n 3"

    input_ready() >> greet >> list_tmp()
