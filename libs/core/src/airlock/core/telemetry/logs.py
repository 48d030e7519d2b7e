"""Trace ids in log lines: a line logged inside a span ends ``trace_id=… span_id=…``, so a log
search finds the trace and the trace's spans find their log lines."""

from __future__ import annotations

import logging


class TraceIdFormatter(logging.Formatter):
    """Formats with the handler's own formatter, then adds the current span's ids."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        from opentelemetry import trace

        line = self.inner.format(record)
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return line
        return f"{line} trace_id={context.trace_id:032x} span_id={context.span_id:016x}"


def add_trace_ids_to_logs(logger: logging.Logger | None = None) -> None:
    """Wrap the formatter of every handler of ``logger`` (the root logger by default)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not isinstance(handler.formatter, TraceIdFormatter):
            handler.setFormatter(TraceIdFormatter(handler.formatter))
