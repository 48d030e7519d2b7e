"""Dynamic task mapping: one task instance per element, decided at run time."""

from __future__ import annotations

import pendulum

from airlock.sdk import dag, task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    is_paused_upon_creation=False,
    tags=["example", "mapping"],
)
def dynamic_mapping():
    @task
    def list_files() -> list[str]:
        return ["a.csv", "b.csv", "c.csv"]

    @task
    def count_rows(name: str, header: bool) -> int:
        return len(name) + int(header)

    @task
    def add(x: int, y: int) -> int:
        return x + y

    @task
    def total(counts: list[int]) -> int:
        return sum(counts)

    counts = count_rows.partial(header=True).expand(name=list_files())
    total(counts)
    add.expand_kwargs([{"x": 1, "y": 2}, {"x": 3, "y": 4}])


dynamic_mapping()
