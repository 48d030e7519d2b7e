"""Assets: a producer updates them; consumers run when their asset condition is met."""

from __future__ import annotations

from datetime import datetime

from airlock.sdk import DAG, Asset, task

orders = Asset(name="orders", uri="s3://warehouse/orders.parquet")
customers = Asset(name="customers", uri="s3://warehouse/customers.parquet")

with DAG(
    dag_id="assets_producer",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    tags=["example", "assets"],
):

    @task(outlets=[orders, customers])
    def refresh_tables() -> None:
        print("tables refreshed")

    refresh_tables()

with DAG(dag_id="assets_consumer", schedule=orders & customers, tags=["example", "assets"]):

    @task
    def build_report() -> None:
        print("report built")

    build_report()

with DAG(dag_id="assets_any_consumer", schedule=orders | customers, tags=["example", "assets"]):

    @task
    def refresh_cache() -> None:
        print("cache refreshed")

    refresh_cache()
