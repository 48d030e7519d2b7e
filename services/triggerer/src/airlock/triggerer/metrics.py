"""The triggerer's metrics (ADR 0024): the triggers it runs, and its runner's event-loop lag.

Each function returns at once unless this process exports metrics
(:func:`~airlock.sdk.execution_time.metrics.metrics_on`), so a triggerer without telemetry, or a
slim install without OpenTelemetry's SDK, pays one dictionary lookup per report.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from airlock.sdk.execution_time.metrics import metrics_on

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Observation


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
    if not metrics_on():
        return
    from opentelemetry import metrics
    from opentelemetry.metrics import Observation

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(running())]

    metrics.get_meter("airlock.triggerer").create_observable_gauge(
        "airlock.triggerer.triggers.running",
        [observe],
        unit="{trigger}",
        description="Triggers this triggerer holds and runs",
    )


def loop_lag(seconds: float) -> None:
    if metrics_on():
        _loop_lag().record(seconds)
