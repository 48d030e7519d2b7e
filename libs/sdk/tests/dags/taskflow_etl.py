"""TaskFlow ETL with multiple_outputs, in the style of Airflow's TaskFlow tutorial."""

import json
from datetime import UTC, datetime, timedelta

from airlock.sdk import dag, task


@dag(
    schedule="@daily",
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    tags=["example", "etl"],
    default_args={"owner": "data-eng", "retries": 2, "retry_delay": timedelta(minutes=1)},
    dagrun_timeout=timedelta(hours=1),
)
def tutorial_taskflow_api():
    """### TaskFlow ETL
    Extract an order summary, transform it, load it."""

    @task()
    def extract() -> dict:
        data_string = '{"1001": 301.27, "1002": 433.21, "1003": 502.22}'
        return json.loads(data_string)

    @task(multiple_outputs=True)
    def transform(order_data_dict: dict):
        total_order_value = 0.0
        for value in order_data_dict.values():
            total_order_value += value
        return {"total_order_value": total_order_value, "order_count": len(order_data_dict)}

    @task(retries=5, pool="loaders", priority_weight=3)
    def load(total_order_value: float, order_count: int) -> str:
        return f"{order_count} orders, total {total_order_value:.2f}"

    order_data = extract()
    order_summary = transform(order_data)
    load(order_summary["total_order_value"], order_summary["order_count"])


tutorial_taskflow_api()
