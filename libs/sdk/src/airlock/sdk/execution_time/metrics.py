"""Metrics of the user-code zone services (worker, triggerer), through the OpenTelemetry API
alone (ADR 0024).

These services may run from a slim install (``deploy/install-slim.sh``) without airlock-core's
telemetry: they ask :func:`metrics_on` — whether a meter provider of the OpenTelemetry SDK was
installed in this process (by ``airlock.core.telemetry.setup_telemetry``) — as their spans ask
:func:`airlock.sdk.execution_time.tracing.tracing_on`, and make no instrument otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping


def metrics_on() -> bool:
    """Whether this process exports metrics. OpenTelemetry's SDK is imported only by what
    installs a provider, so without one this is a dictionary lookup."""
    if "opentelemetry.sdk.metrics" not in sys.modules:
        return False
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider

    return isinstance(metrics.get_meter_provider(), MeterProvider)


def observe_gauge(
    meter: str,
    name: str,
    read: Callable[[], Iterable[tuple[int | float, Mapping[str, str]]]],
    *,
    unit: str,
    description: str,
) -> None:
    """Register the gauge ``name``, whose (value, attributes) pairs ``read()`` gives at each
    collection; nothing when this process exports no metrics."""
    if not metrics_on():
        return
    from opentelemetry import metrics
    from opentelemetry.metrics import CallbackOptions, Observation

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(value, dict(attributes)) for value, attributes in read()]

    metrics.get_meter(meter).create_observable_gauge(
        name, [observe], unit=unit, description=description
    )
