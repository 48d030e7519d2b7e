"""Trace and span ids: random ones, or ones chosen beforehand for a span recorded after the fact.

A DAG run's root span and each task try's API-side span are recorded when they end, by whichever
process sees the end, with ids every other process derived beforehand (ADR 0024). The SDK has no
argument for a span's id, so the tracer provider's id generator hands out the preset ids while
:func:`preset_ids` is active and random ones otherwise.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import re
from collections.abc import Iterator
from typing import Any

_preset: contextvars.ContextVar[tuple[int | None, int | None]] = contextvars.ContextVar(
    "airlock_preset_ids", default=(None, None)
)
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def preset_id_generator() -> Any:
    """The tracer provider's id generator: the preset ids inside :func:`preset_ids`, random ones
    elsewhere. (Built when telemetry is installed: the OpenTelemetry SDK is imported only then.)"""
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class PresetIdGenerator(RandomIdGenerator):
        def generate_span_id(self) -> int:
            span_id = _preset.get()[1]
            return span_id if span_id is not None else super().generate_span_id()

        def generate_trace_id(self) -> int:
            trace_id = _preset.get()[0]
            return trace_id if trace_id is not None else super().generate_trace_id()

    return PresetIdGenerator()


@contextlib.contextmanager
def preset_ids(trace_id: int | None, span_id: int | None) -> Iterator[None]:
    token = _preset.set((trace_id, span_id))
    try:
        yield
    finally:
        _preset.reset(token)


def derived_id(bits: int, *parts: object) -> int:
    """A stable non-zero id of ``bits`` bits from ``parts``: the same in every process."""
    digest = hashlib.blake2b("\0".join(map(str, parts)).encode(), digest_size=bits // 8).digest()
    return int.from_bytes(digest, "big") or 1


def parse_traceparent(value: str | None) -> tuple[int, int] | None:
    """``(trace_id, span_id)`` of a W3C ``traceparent`` header, or None when it is not one."""
    match = _TRACEPARENT.match(value.strip().lower()) if value else None
    if match is None:
        return None
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    return (trace_id, span_id) if trace_id and span_id else None


def format_traceparent(trace_id: int, span_id: int) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-01"
