"""TaskFlow: extract → transform → load, with XComs passed as return values."""

from __future__ import annotations

import json

import pendulum

from airlock.sdk import dag, task


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["example", "taskflow"],
    default_args={"owner": "data-eng", "retries": 2},
    doc_md="Sums a day's orders. The classic TaskFlow ETL, ported by changing one import.",
)
def taskflow_etl():
    @task
    def extract() -> dict[str, float]:
        return json.loads('{"1001": 301.27, "1002": 433.21, "1003": 502.22}')

    @task(multiple_outputs=True)
    def transform(orders: dict[str, float]) -> dict[str, float]:
        return {"total": sum(orders.values()), "count": len(orders)}

    @task
    def load(total: float, count: int) -> None:
        print(f"{count} orders, total {total:.2f}")

    summary = transform(extract())
    load(summary["total"], summary["count"])


taskflow_etl()
