"""Assets: a producer updates them; consumers run when their asset condition is met."""

from __future__ import annotations

from typing import Any

import pendulum

from airlock.sdk import DAG, Asset, task

orders = Asset(name="orders", uri="s3://warehouse/orders.parquet")
customers = Asset(name="customers", uri="s3://warehouse/customers.parquet")

with DAG(
    dag_id="assets_producer",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    is_paused_upon_creation=False,
    tags=["example", "assets"],
):

    @task(outlets=[orders, customers])
    def refresh_tables() -> None:
        print("tables refreshed")

    refresh_tables()

with DAG(
    dag_id="assets_consumer",
    schedule=orders & customers,
    is_paused_upon_creation=False,
    tags=["example", "assets"],
):

    @task(multiple_outputs=False)
    def build_report(triggering_asset_events: Any = None) -> dict[str, list[dict[str, Any]]]:
        """Report which asset events triggered this run (returned as one XCom, by asset URI)."""
        seen = {
            asset.uri: [
                {
                    "source_dag_id": event.source_dag_id,
                    "source_task_id": event.source_task_id,
                    "source_run_id": event.source_run_id,
                    "extra": event.extra,
                    "timestamp": event.timestamp.isoformat(),
                }
                for event in events
            ]
            for asset, events in triggering_asset_events.items()
        }
        print(f"report built from {sum(map(len, seen.values()))} asset events")
        return seen

    build_report()

with DAG(
    dag_id="assets_any_consumer",
    schedule=orders | customers,
    is_paused_upon_creation=False,
    tags=["example", "assets"],
):

    @task
    def refresh_cache() -> None:
        print("cache refreshed")

    refresh_cache()
