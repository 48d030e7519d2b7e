"""Every service command turns telemetry on the same way, right after logging is configured."""

from __future__ import annotations

import importlib.util

from airlock.cli.errors import CliError
from airlock.core.settings import Settings


def start_telemetry(settings: Settings, service: str) -> None:
    if importlib.util.find_spec("airlock.core.telemetry") is None:
        # A slim zone install (deploy/install-slim.sh) carries the settings module alone.
        if settings.telemetry.otlp_endpoint or settings.telemetry.prometheus_port:
            raise CliError(
                f"[telemetry] is set, but this {service} is a slim install without "
                "airlock-core's telemetry (deploy/install-slim.sh): install airlock-core to "
                "export telemetry from it, or unset [telemetry] otlp_endpoint/prometheus_port"
            )
        return
    from airlock.core.telemetry import TelemetryError, setup_telemetry

    try:
        setup_telemetry(settings, service)
    except TelemetryError as exc:
        raise CliError(str(exc)) from None
