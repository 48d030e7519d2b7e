"""Callbacks: a run's and its tasks' outcomes reported by the callback processor, and a deadline
alert that fires if a run has not ended ten minutes after it was queued.

Trigger it and look at what ran: ``airlock callbacks list --dag example_callbacks --run <id>``.
Each callback's output is its log there; a callback that keeps failing is dead-lettered.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from airlock.sdk import BaseNotifier, DeadlineAlert, DeadlineReference, dag, task


class PrintNotifier(BaseNotifier):
    """A notifier whose message is a template: swap it for a WebhookNotifier or SmtpNotifier
    (``airlock.sdk.notifications``) to reach people."""

    template_fields = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def notify(self, context: Mapping[str, Any]) -> None:
        print(f"{self.message} (event {context['idempotency_key']})")


def report(context: Mapping[str, Any]) -> None:
    print(
        f"{context['callback_kind']}: {context['dag_id']} {context['run_id']} "
        f"task={context['task_id']} attempt={context['callback_attempt']}"
    )


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["example", "callbacks"],
    on_success_callback=PrintNotifier("run {{ run_id }} of {{ dag.dag_id }} succeeded"),
    on_failure_callback=[report, PrintNotifier("run {{ run_id }} failed: {{ reason }}")],
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=10),
        callback=PrintNotifier("run {{ run_id }} missed its deadline {{ deadline_at }}"),
    ),
)
def example_callbacks():
    @task(on_execute_callback=report, on_success_callback=report)
    def extract() -> int:
        return 42

    @task(
        retries=1,
        retry_delay=timedelta(seconds=1),
        on_retry_callback=report,
        on_failure_callback=report,
        on_success_callback=report,
    )
    def flaky(value: int, ti: Any = None) -> int:
        if ti.try_number == 1:
            raise RuntimeError("the first try fails; the retry succeeds")
        return value + 1

    flaky(extract())


example_callbacks()
