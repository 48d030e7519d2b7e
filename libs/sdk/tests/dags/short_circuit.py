"""Short-circuiting: a falsy condition skips what follows."""

from datetime import datetime

from airlock.sdk import DAG, EmptyOperator, ShortCircuitOperator, chain, task

with DAG("short_circuit", start_date=datetime(2024, 1, 1), schedule=None) as dag:

    @task.short_circuit
    def has_data(rows: int = 0):
        return rows > 0

    condition_true = ShortCircuitOperator(task_id="always_true", python_callable=lambda: True)
    condition_false = ShortCircuitOperator(
        task_id="always_false",
        python_callable=lambda: False,
        ignore_downstream_trigger_rules=False,
    )
    chain(condition_true, EmptyOperator(task_id="after_true"))
    chain(condition_false, EmptyOperator(task_id="after_false"), EmptyOperator(task_id="later"))
    chain(has_data(), [EmptyOperator(task_id="a"), EmptyOperator(task_id="b")])
