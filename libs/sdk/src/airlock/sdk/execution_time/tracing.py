"""A task try's spans on the worker's side: the worker's span for the try, and the task
process's span that the task's own OpenTelemetry spans nest under (ADR 0024).

The Execution API hands each workload the ``traceparent`` of the try's span in its DAG run's
trace. The worker opens its span under it and passes that span's ``traceparent`` to the task
process in :class:`~airlock.sdk.execution_time.protocol.StartTask`; the task process opens the
``execute`` span under it, makes it current while the task runs, and puts its ``traceparent`` in
``TRACEPARENT`` for anything the task starts. Without a ``traceparent`` (the server does not
trace) or without an exporter configured (``OTEL_EXPORTER_OTLP_ENDPOINT``), nothing happens.

The task process exports with the OpenTelemetry SDK when it is installed (``airlock-sdk[telemetry]``);
the SDK alone needs only ``opentelemetry-api``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

TRACEPARENT_VARIABLE = "TRACEPARENT"


def tracing_on() -> bool:
    """Whether this process exports spans (a tracer provider was installed). OpenTelemetry is
    imported only by what installs one, so without it this is a dictionary lookup."""
    if "opentelemetry.sdk.trace" not in sys.modules:
        return False
    from opentelemetry import trace

    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _propagator() -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator()


def traceparent_of(span: Any) -> str | None:
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    carrier: dict[str, str] = {}
    _propagator().inject(carrier, trace.set_span_in_context(span, otel_context.Context()))
    return carrier.get("traceparent")


@contextlib.contextmanager
def span_under(
    traceparent: str | None, name: str, attributes: Mapping[str, str | int] | None = None
) -> Iterator[str | None]:
    """A span under ``traceparent``, current while the block runs; yields its own traceparent
    (``traceparent`` itself when this process does not trace)."""
    if traceparent is None or not tracing_on():
        yield traceparent
        return
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    parent = _propagator().extract({"traceparent": traceparent}, otel_context.Context())
    with trace.get_tracer("airlock.worker").start_as_current_span(
        name, context=parent, attributes=dict(attributes or {})
    ) as span:
        yield traceparent_of(span)


def start_task_process_tracing(service: str = "airlock-task") -> bool:
    """In a task process: install a tracer provider exporting over OTLP as its worker does
    (the ``OTEL_*`` variables), if one is configured and the OpenTelemetry SDK is installed."""
    if tracing_on():
        return True
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or (
        os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true"
    ):
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return False
    endpoint = os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.namespace": "airlock"})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return True


@contextlib.contextmanager
def task_span(
    traceparent: str | None, name: str, attributes: Mapping[str, str | int]
) -> Iterator[None]:
    """The task process's span for the task, under the worker's; current while the task runs."""
    if traceparent is None or not start_task_process_tracing():
        yield
        return
    with span_under(traceparent, name, attributes) as own:
        if own is not None:
            os.environ[TRACEPARENT_VARIABLE] = own
        yield


def flush_spans(timeout_s: float = 5.0) -> None:
    """Send what the task process recorded before it exits (it skips interpreter teardown)."""
    if not tracing_on():
        return
    from opentelemetry import trace

    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:
        flush(int(timeout_s * 1000))
