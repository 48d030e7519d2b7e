"""Install OpenTelemetry's providers in one Airlock process, or leave the API's no-op ones.

Nothing is installed unless an OTLP endpoint (the ``[telemetry]`` setting or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT``) or a Prometheus port is configured: the OpenTelemetry API then
hands out no-op tracers and meters, and Airlock's own hooks, which ask :func:`tracing_on` first,
build no span at all.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping, MutableMapping
from typing import Any

from airlock.core.settings import Settings
from airlock.core.telemetry.ids import preset_id_generator
from airlock.core.telemetry.logs import add_trace_ids_to_logs

log = logging.getLogger(__name__)

_installed: set[str] = set()


class TelemetryError(RuntimeError):
    """The telemetry settings ask for something this install cannot do; the message says what."""


def telemetry_installed() -> bool:
    """Whether :func:`setup_telemetry` installed providers in this process."""
    return bool(_installed)


def otlp_endpoint(settings: Settings, environ: Mapping[str, str]) -> str | None:
    """The OTLP endpoint this process exports to: the setting, else the standard variables."""
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    return settings.telemetry.otlp_endpoint or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None


def telemetry_configured(settings: Settings, environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(otlp_endpoint(settings, env) or settings.telemetry.prometheus_port)


def setup_telemetry(
    settings: Settings, service: str, *, environ: MutableMapping[str, str] | None = None
) -> bool:
    """Set up traces, metrics and trace ids in log lines for the Airlock ``service`` running in
    this process (``api``, ``scheduler``, ``worker``, …); whether anything was installed.

    The endpoint and protocol (no secret: never headers, certificates or keys) are also written
    to ``environ`` as ``OTEL_*`` variables, so the processes this one starts (a worker's task
    processes) export to the same place; what those processes inherit of ``OTEL_*`` is narrowed
    to where to export by :func:`~airlock.sdk.execution_time.supervised.child_environment`.
    """
    env = os.environ if environ is None else environ
    if not telemetry_configured(settings, env) or service in _installed:
        return False
    _installed.add(service)
    from opentelemetry.sdk.resources import Resource

    telemetry = settings.telemetry
    endpoint = otlp_endpoint(settings, env)
    protocol = telemetry.otlp_protocol or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    if endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol
    resource = Resource.create(
        {
            "service.name": f"airlock-{service}",
            "service.namespace": telemetry.service_namespace,
            "service.instance.id": telemetry.instance or f"{socket.gethostname()}:{os.getpid()}",
            "airlock.zone": settings.zone,
        }
    )
    if endpoint:
        _install_tracing(resource, endpoint, protocol)
    _install_metrics(settings, resource, endpoint, protocol)
    _instrument_libraries(sql=settings.zone == "control" and telemetry.sql_spans)
    add_trace_ids_to_logs()
    log.info(
        "telemetry on for %s: OTLP %s, Prometheus %s",
        service,
        f"{protocol} to {endpoint}" if endpoint else "off",
        f"on port {telemetry.prometheus_port}" if telemetry.prometheus_port else "off",
    )
    return True


def _install_tracing(resource: object, endpoint: str, protocol: str) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    assert isinstance(resource, Resource)
    provider = TracerProvider(resource=resource, id_generator=preset_id_generator())
    provider.add_span_processor(BatchSpanProcessor(_span_exporter(endpoint, protocol)))
    trace.set_tracer_provider(provider)


def _span_exporter(endpoint: str, protocol: str) -> Any:
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter,
            )
        except ImportError:
            raise TelemetryError(
                "telemetry.otlp_protocol = 'grpc' needs opentelemetry-exporter-otlp-proto-grpc "
                "installed; install it or use 'http/protobuf'"
            ) from None
        return OTLPSpanExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    return Http(endpoint=f"{endpoint.rstrip('/')}/v1/traces")


def _metric_exporter(endpoint: str, protocol: str) -> Any:
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                OTLPMetricExporter,
            )
        except ImportError:
            raise TelemetryError(
                "telemetry.otlp_protocol = 'grpc' needs opentelemetry-exporter-otlp-proto-grpc "
                "installed; install it or use 'http/protobuf'"
            ) from None
        return OTLPMetricExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as Http

    return Http(endpoint=f"{endpoint.rstrip('/')}/v1/metrics")


def _install_metrics(
    settings: Settings, resource: object, endpoint: str | None, protocol: str
) -> None:
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import (
        Counter,
        Histogram,
        MeterProvider,
        ObservableCounter,
        ObservableGauge,
        ObservableUpDownCounter,
        UpDownCounter,
    )
    from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    assert isinstance(resource, Resource)
    telemetry = settings.telemetry
    limit = telemetry.max_series_per_metric
    limits: dict[type, int] = dict.fromkeys(
        (
            Counter,
            UpDownCounter,
            Histogram,
            ObservableCounter,
            ObservableGauge,
            ObservableUpDownCounter,
        ),
        limit,
    )
    readers: list[MetricReader] = []
    if endpoint:
        readers.append(
            PeriodicExportingMetricReader(
                _metric_exporter(endpoint, protocol),
                export_interval_millis=telemetry.metric_export_interval_s * 1000,
                cardinality_limits=limits,
            )
        )
    if telemetry.prometheus_port:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        readers.append(PrometheusMetricReader(cardinality_limits=limits))
        try:
            start_http_server(telemetry.prometheus_port, addr=telemetry.prometheus_host)
        except OSError as exc:
            raise TelemetryError(
                f"cannot serve Prometheus metrics on {telemetry.prometheus_host}:"
                f"{telemetry.prometheus_port} (telemetry.prometheus_port): {exc}"
            ) from None
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))


def _instrument_libraries(*, sql: bool) -> None:
    """The maintained instrumentations: every httpx request carries ``traceparent`` and is a
    client span; with ``sql``, every SQL statement is a span (the Litestar plugin is added by
    ``build_app``)."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument()
    if not sql:  # [telemetry] sql_spans, and only the control zone has a database
        return
    from opentelemetry.instrumentation.dependencies import DependencyConflictError
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    try:
        SQLAlchemyInstrumentor().instrument(raise_exception_on_conflict=True)
    except DependencyConflictError as exc:
        # Left alone it would log this and record no SQL span at all.
        raise TelemetryError(
            f"[telemetry] sql_spans = true, but SQLAlchemy's OpenTelemetry instrumentation "
            f"cannot run here: {exc}; unset sql_spans or install versions that match"
        ) from None
