"""The worker's metrics (ADR 0024): its slots, and its polls of the Execution API.

Each function returns at once unless this process exports metrics
(:func:`~airlock.sdk.execution_time.metrics.metrics_on`), so a worker without telemetry, or a
slim install without OpenTelemetry's SDK, pays one dictionary lookup per poll.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import SimpleNamespace

from airlock.sdk.execution_time.metrics import metrics_on, observe_gauge


@functools.cache
def _instruments() -> SimpleNamespace:
    from opentelemetry import metrics

    meter = metrics.get_meter("airlock.worker")
    return SimpleNamespace(
        polls=meter.create_counter(
            "airlock.worker.polls",
            unit="{poll}",
            description="Polls for workloads, by outcome (ok, error)",
        ),
        poll_duration=meter.create_histogram(
            "airlock.worker.poll.duration",
            unit="s",
            description="One poll for workloads, its long-poll wait included",
        ),
        poll_tasks=meter.create_histogram(
            "airlock.worker.poll.tasks",
            unit="{task}",
            description="Workloads one poll brought",
            explicit_bucket_boundaries_advisory=[0, 1, 2, 4, 8, 16, 32, 64, 128],
        ),
    )


def observe_slots(slots: Callable[[], tuple[int, int]]) -> None:
    """Report ``slots()`` — (used, open) — as ``airlock.worker.slots`` at each collection."""

    def read() -> list[tuple[int, dict[str, str]]]:
        used, free = slots()
        return [(used, {"airlock.state": "used"}), (free, {"airlock.state": "open"})]

    observe_gauge(
        "airlock.worker",
        "airlock.worker.slots",
        read,
        unit="{slot}",
        description="Task slots, used and open",
    )


def poll_done(seconds: float, tasks: int | None) -> None:
    """A poll that took ``seconds`` and brought ``tasks`` workloads (``None``: it failed)."""
    if not metrics_on():
        return
    instruments = _instruments()
    instruments.polls.add(1, {"airlock.outcome": "error" if tasks is None else "ok"})
    instruments.poll_duration.record(seconds)
    if tasks is not None:
        instruments.poll_tasks.record(tasks)
