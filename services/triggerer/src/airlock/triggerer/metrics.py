"""The triggerer's metrics (ADR 0024): how many triggers it runs, and how late its runner's
event loop runs what is due (the runner measures that itself and reports it every second).

Like the worker's, they go through the OpenTelemetry API only and cost a dictionary lookup when
no meter provider is installed (:mod:`airlock.sdk.execution_time.metrics`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from airlock.sdk.execution_time.metrics import metrics_on, observe_gauge


@functools.cache
def _loop_lag() -> Any:
    from opentelemetry import metrics

    return metrics.get_meter("airlock.triggerer").create_histogram(
        "airlock.triggerer.loop.lag",
        unit="s",
        description="How late the trigger runner's event loop runs what is due (blocked loops)",
        explicit_bucket_boundaries_advisory=[0.001, 0.005, 0.01, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
    )


def observe_triggers(running: Callable[[], int]) -> None:
    """Report ``running()`` as ``airlock.triggerer.triggers.running`` at each collection."""
    observe_gauge(
        "airlock.triggerer",
        "airlock.triggerer.triggers.running",
        lambda: [(running(), {})],
        unit="{trigger}",
        description="Triggers this triggerer holds and runs",
    )


def loop_lag(seconds: float) -> None:
    if metrics_on():
        _loop_lag().record(seconds)
