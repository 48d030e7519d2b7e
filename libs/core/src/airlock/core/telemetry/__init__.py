"""OpenTelemetry for Airlock services (ADR 0024): set up once per process, off and free by default.

- :func:`setup_telemetry` installs the providers, exporters and instrumentations for one service;
- :class:`RunTrace` names a DAG run's trace and records its spans from any control-zone process;
- :func:`tracing_on` is the one question hot paths ask before doing anything for a trace.
"""

from airlock.core.telemetry._setup import (
    TelemetryError,
    otlp_endpoint,
    setup_telemetry,
    telemetry_configured,
    telemetry_installed,
)
from airlock.core.telemetry.ids import format_traceparent, parse_traceparent
from airlock.core.telemetry.logs import TraceIdFormatter, add_trace_ids_to_logs
from airlock.core.telemetry.runs import (
    RunTrace,
    caller_traceparent,
    current_traceparent,
    record_span,
    tracing_on,
)

__all__ = [
    "RunTrace",
    "TelemetryError",
    "TraceIdFormatter",
    "add_trace_ids_to_logs",
    "caller_traceparent",
    "current_traceparent",
    "format_traceparent",
    "otlp_endpoint",
    "parse_traceparent",
    "record_span",
    "setup_telemetry",
    "telemetry_configured",
    "telemetry_installed",
    "tracing_on",
]
