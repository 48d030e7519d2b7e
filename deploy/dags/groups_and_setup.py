"""Task groups, setup/teardown around work that needs a resource, and chain()."""

from __future__ import annotations

from datetime import timedelta

import pendulum

from airlock.sdk import chain, dag, setup, task, task_group, teardown


@dag(
    schedule=timedelta(hours=6),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    is_paused_upon_creation=False,
    tags=["example", "groups"],
)
def groups_and_setup():
    @setup
    def create_cluster() -> str:
        return "cluster-1"

    @teardown
    def delete_cluster(cluster: str) -> None:
        print(f"deleting {cluster}")

    @task_group(group_id="ingest")
    def ingest():
        @task
        def pull() -> int:
            return 1

        @task
        def validate(n: int) -> int:
            return n

        return validate(pull())

    @task_group(group_id="publish")
    def publish(n: int):
        @task
        def to_warehouse(value: int) -> None:
            print(value)

        @task
        def notify() -> None:
            print("done")

        chain(to_warehouse(n), notify())

    cluster = create_cluster()
    work = publish(ingest())
    cluster >> work >> delete_cluster(cluster)


groups_and_setup()
