"""airlock.core.telemetry: off by default, derived run trace ids, spans with preset ids, trace
ids in log lines. Installing a tracer provider is once per process in OpenTelemetry, so the
tests that install one run in a child process."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from airlock.core.settings import SettingsError, load_settings
from airlock.core.telemetry import (
    RunTrace,
    TraceIdFormatter,
    format_traceparent,
    parse_traceparent,
    setup_telemetry,
    telemetry_configured,
    tracing_on,
)
from tests.support.otlp import OtlpReceiver

ROOT = Path(__file__).resolve().parents[3]


def test_off_by_default_nothing_is_installed() -> None:
    settings = load_settings(environ={}, config_file=None)
    assert not telemetry_configured(settings, {})
    assert setup_telemetry(settings, "scheduler", environ={}) is False
    assert not tracing_on()


def test_otel_sdk_disabled_wins_over_an_endpoint() -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}
    assert not telemetry_configured(load_settings(environ={}, config_file=None), environ)


def test_a_bad_protocol_is_named() -> None:
    with pytest.raises(SettingsError, match="otlp_protocol"):
        load_settings(environ={"AIRLOCK_TELEMETRY__OTLP_PROTOCOL": "carrier-pigeon"})


def test_run_trace_ids_are_derived_from_the_run() -> None:
    one, again = RunTrace.of("etl", "manual__1"), RunTrace.of("etl", "manual__1")
    other = RunTrace.of("etl", "manual__2")
    assert (one.trace_id, one.span_id) == (again.trace_id, again.span_id)
    assert one.trace_id != other.trace_id
    assert one.parent_span_id is None
    assert one.try_span_id("t", -1, 1) != one.try_span_id("t", -1, 2)
    assert parse_traceparent(one.try_traceparent("t", -1, 1)) == (
        one.trace_id,
        one.try_span_id("t", -1, 1),
    )


def test_a_callers_traceparent_is_continued_and_a_bad_one_ignored() -> None:
    caller = format_traceparent(0xABC, 0xDEF)
    run = RunTrace.of("etl", "manual__1", caller)
    assert (run.trace_id, run.parent_span_id) == (0xABC, 0xDEF)
    assert run.span_id == RunTrace.of("etl", "manual__1").span_id
    for bad in ("", "00-zz-11-01", f"00-{0:032x}-{1:016x}-01", "garbage"):
        assert RunTrace.of("etl", "manual__1", bad) == RunTrace.of("etl", "manual__1")


def test_log_lines_inside_a_span_carry_its_ids() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    formatter = TraceIdFormatter(logging.Formatter("%(message)s"))
    assert formatter.format(record) == "hello"
    context = SpanContext(0x1234, 0x5678, is_remote=False, trace_flags=TraceFlags(1))
    with trace.use_span(NonRecordingSpan(context)):
        assert formatter.format(record) == f"hello trace_id={0x1234:032x} span_id={0x5678:016x}"


SCRIPT = textwrap.dedent("""
    import datetime as dt, json, sys
    from airlock.core.settings import load_settings
    from airlock.core.telemetry import RunTrace, setup_telemetry, tracing_on
    from opentelemetry import trace

    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    settings = load_settings(environ={"AIRLOCK_TELEMETRY__OTLP_ENDPOINT": sys.argv[1]})
    assert setup_telemetry(settings, "scheduler")
    assert tracing_on()
    # HTTP client spans carry the trace between processes; SQL spans are opt-in (sql_spans)
    assert HTTPXClientInstrumentor().is_instrumented_by_opentelemetry
    assert not SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry
    run = RunTrace.of("etl", "manual__1")
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    run.record("task t", start, start + dt.timedelta(seconds=3), span_id=run.try_span_id("t", -1, 1))
    with run.span("schedule"):
        pass
    run.record_root(start, start + dt.timedelta(seconds=5), "success", "manual")
    trace.get_tracer_provider().force_flush()
""")


def in_a_child(script: str, *args: str) -> str:
    """Run ``script`` in a fresh interpreter (providers are installed once per process); what it
    printed, once it exited 0."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_sql_spans_are_opt_in_and_refused_when_the_instrumentation_cannot_run() -> None:
    script = textwrap.dedent("""
        from importlib.metadata import version
        from airlock.core.settings import load_settings
        from airlock.core.telemetry import TelemetryError, setup_telemetry
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        settings = load_settings(environ={
            "AIRLOCK_TELEMETRY__OTLP_ENDPOINT": "http://127.0.0.1:9",
            "AIRLOCK_TELEMETRY__SQL_SPANS": "true",
        })
        conflict = SQLAlchemyInstrumentor()._check_dependency_conflicts()
        try:
            setup_telemetry(settings, "scheduler")
        except TelemetryError as exc:
            assert conflict is not None and "sql_spans" in str(exc), exc
            print("refused:", version("sqlalchemy"))
        else:
            assert conflict is None
            assert SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry
            print("instrumented")
    """)
    said = in_a_child(script)
    assert said.startswith(("refused:", "instrumented")), said


def test_spans_are_exported_with_the_runs_ids() -> None:
    receiver = OtlpReceiver()
    try:
        in_a_child(SCRIPT, receiver.url)
        run = RunTrace.of("etl", "manual__1")
        spans = {span.name: span for span in receiver.trace(f"{run.trace_id:032x}")}
    finally:
        receiver.close()
    assert set(spans) == {"task t", "schedule", "dag_run etl"}, json.dumps(list(spans))
    root = spans["dag_run etl"]
    assert root.span_id == f"{run.span_id:016x}"
    assert root.parent_span_id == ""
    assert root.service == "airlock-scheduler"
    assert spans["task t"].span_id == f"{run.try_span_id('t', -1, 1):016x}"
    assert spans["task t"].parent_span_id == root.span_id
    assert spans["schedule"].parent_span_id == root.span_id
    assert spans["task t"].attributes["airlock.dag_id"] == "etl"
