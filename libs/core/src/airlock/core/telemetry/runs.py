"""A DAG run's trace: found by every process from the run's identity, never looked up (ADR 0024).

The run's trace id is derived from ``(dag_id, run_id)`` unless the request that created the run
carried a ``traceparent``; then the run continues that trace, and the header is stored with the
run (``dag_run.trace_parent``). The run's root span and each task try's API-side span have
derived ids too, so the scheduler, the three APIs, the worker and the task process all name the
same parents without passing more than one ``traceparent`` to the worker.

Spans here are recorded when what they measure is over (with its real start and end times), by
the process that sees the end. Every function returns at once when tracing is off: no span object
is made.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airlock.core.telemetry._setup import telemetry_installed
from airlock.core.telemetry.ids import (
    derived_id,
    format_traceparent,
    parse_traceparent,
    preset_ids,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span

AttributeValue = str | int | float | bool


def tracing_on() -> bool:
    """Whether this process exports spans (a tracer provider was installed). When telemetry is
    off this is one set's truth test: hot paths ask it once per event."""
    if not telemetry_installed():
        return False
    from opentelemetry import trace

    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _under(trace_id: int, span_id: int | None) -> Any:
    """A context whose current span is the remote span ``span_id`` (none: an empty context)."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    if span_id is None:
        return otel_context.Context()
    remote = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(1))
    return trace.set_span_in_context(NonRecordingSpan(remote), otel_context.Context())


def current_traceparent() -> str | None:
    """The ``traceparent`` of the span current here (a request's), if tracing is on."""
    if not tracing_on():
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format_traceparent(context.trace_id, context.span_id) if context.is_valid else None


def caller_traceparent(headers: Mapping[str, str]) -> str | None:
    """The ``traceparent`` a run created by a request continues: the request's server span when
    this process traces, else the caller's own header (kept with the run all the same)."""
    return current_traceparent() or headers.get("traceparent")


@dataclass(frozen=True, slots=True)
class RunTrace:
    """Where a DAG run's spans go: its trace, its root span and that span's parent (if any)."""

    dag_id: str
    run_id: str
    trace_id: int
    span_id: int
    parent_span_id: int | None = None

    @classmethod
    def of(cls, dag_id: str, run_id: str, trace_parent: str | None = None) -> RunTrace:
        caller = parse_traceparent(trace_parent)
        trace_id = caller[0] if caller else derived_id(128, "run", dag_id, run_id)
        return cls(
            dag_id,
            run_id,
            trace_id,
            derived_id(64, "run-span", dag_id, run_id),
            caller[1] if caller else None,
        )

    def try_span_id(self, task_id: str, map_index: int, try_number: int) -> int:
        """The id of a task try's API-side span, the parent of the worker's span for it."""
        return derived_id(64, "try", self.dag_id, self.run_id, task_id, map_index, try_number)

    def try_traceparent(self, task_id: str, map_index: int, try_number: int) -> str:
        return format_traceparent(self.trace_id, self.try_span_id(task_id, map_index, try_number))

    def record(
        self,
        name: str,
        start: dt.datetime | None,
        end: dt.datetime | None = None,
        *,
        span_id: int | None = None,
        parent_span_id: int | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
        error: str | None = None,
    ) -> None:
        """Record a finished span of this run, under its root span unless ``parent_span_id``."""
        parent = parent_span_id or self.span_id
        record_span(
            name,
            self.trace_id,
            parent,
            start,
            end,
            span_id=span_id,
            attributes={"airlock.dag_id": self.dag_id, "airlock.run_id": self.run_id}
            | dict(attributes or {}),
            error=error,
        )

    @contextlib.contextmanager
    def span(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None
    ) -> Iterator[Span]:
        """A live span of this run, under its root span, current while the block runs."""
        from opentelemetry import trace

        with trace.get_tracer("airlock").start_as_current_span(
            name,
            context=_under(self.trace_id, self.span_id),
            attributes={"airlock.dag_id": self.dag_id, "airlock.run_id": self.run_id}
            | dict(attributes or {}),
        ) as span:
            yield span

    def record_root(
        self, start: dt.datetime | None, end: dt.datetime | None, state: str, run_type: str
    ) -> None:
        """Record the run's root span, once the run has ended."""
        record_span(
            f"dag_run {self.dag_id}",
            self.trace_id,
            self.parent_span_id,
            start,
            end,
            span_id=self.span_id,
            attributes={
                "airlock.dag_id": self.dag_id,
                "airlock.run_id": self.run_id,
                "airlock.run_type": run_type,
                "airlock.state": state,
            },
            error=None if state == "success" else f"run ended {state}",
        )


def record_span(
    name: str,
    trace_id: int,
    parent_span_id: int | None,
    start: dt.datetime | None,
    end: dt.datetime | None = None,
    *,
    span_id: int | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
    error: str | None = None,
) -> None:
    if not tracing_on():
        return
    from opentelemetry import trace

    end = end or dt.datetime.now(dt.UTC)
    start = start or end
    # Never under the current span (a request's): the run's tree decides the parent.
    parent = _under(trace_id, parent_span_id)
    with preset_ids(trace_id, span_id):
        span = trace.get_tracer("airlock").start_span(
            name, context=parent, start_time=_ns(start), attributes=attributes
        )
    if error:
        span.set_status(trace.Status(trace.StatusCode.ERROR, error))
    span.end(end_time=_ns(max(start, end)))


def _ns(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)
