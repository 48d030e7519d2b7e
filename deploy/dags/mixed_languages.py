"""Tasks in two languages: Python extracts, JavaScript summarizes, Python loads.

``summarize`` is a stub: its code is the ``summarize`` function of ``mixed_languages.mjs`` beside
this file, run by the Node.js runner (``libs/runner-node``) that serves queue ``node``. Without
that runner the task waits in the queue. Start it beside ``run-all``::

    uv run airlock tokens issue --kind worker --queue node > .airlock/node-worker.token
    node libs/runner-node/lib/cli.js --tasks deploy/dags/mixed_languages.mjs \\
        --token-file .airlock/node-worker.token
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum

from airlock.sdk import dag, task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    is_paused_upon_creation=False,
    tags=["example", "node"],
)
def mixed_languages():
    @task
    def extract() -> dict[str, Any]:
        return {"orders": [12, 30, 8], "currency": "EUR"}

    @task.stub(queue="node", retries=1, retry_delay=timedelta(seconds=5))
    def summarize(orders): ...

    @task
    def load(summary: dict[str, Any], ti=None) -> str:
        largest = ti.xcom_pull(task_ids="summarize", key="largest")
        print(f"summary from JavaScript: {summary}, largest order: {largest}")
        if summary["total"] != 50 or largest != 30:
            raise ValueError(f"unexpected summary {summary} / largest {largest}")
        return f"{summary['count']} orders, {summary['total']} {summary['currency']}"

    load(summarize(extract()))


mixed_languages()
