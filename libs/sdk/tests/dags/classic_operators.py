"""Classic operators with default_args, callbacks and XComArg wiring via .output."""

from datetime import datetime, timedelta

from airlock.sdk import (
    DAG,
    BashOperator,
    EmptyOperator,
    PythonOperator,
    TriggerDagRunOperator,
    cross_downstream,
)


def notify(context):
    return None


def push_value(ti=None):
    return {"rows": 3}


def use_value(value, ds=None):
    return f"{value['rows']} rows on {ds}"


default_args = {
    "owner": "ops",
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=20),
    "on_failure_callback": notify,
    "queue": "fast",
    "depends_on_past": True,
}

with DAG(
    dag_id="classic_operators",
    description="Classic operators",
    default_args=default_args,
    start_date=datetime(2024, 1, 1),
    end_date=datetime(2025, 1, 1),
    schedule=timedelta(hours=6),
    max_active_runs=2,
    max_active_tasks=8,
    max_consecutive_failed_dag_runs=5,
    on_failure_callback=notify,
    dag_display_name="Classic operators",
    is_paused_upon_creation=True,
    access_control={"role": {"can_read"}},
    doc_md="# Classic",
) as dag:
    push = PythonOperator(task_id="push", python_callable=push_value)
    use = PythonOperator(task_id="use", python_callable=use_value, op_args=[push.output])
    bash = BashOperator(
        task_id="bash",
        bash_command="echo {{ ti.xcom_pull(task_ids='push')['rows'] }}",
        weight_rule="absolute",
        priority_weight=10,
        pool_slots=2,
        task_display_name="Say the rows",
    )
    a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
    c, d = EmptyOperator(task_id="c"), EmptyOperator(task_id="d", on_success_callback=notify)
    push >> bash
    cross_downstream([use, bash], [a, b])
    [a, b] >> c << d
    trigger = TriggerDagRunOperator(
        task_id="trigger_other", trigger_dag_id="other", conf={"from": "{{ run_id }}"}
    )
    c >> trigger
