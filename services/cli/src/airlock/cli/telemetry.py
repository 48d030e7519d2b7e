"""Every service command turns telemetry on the same way, right after logging is configured."""

from __future__ import annotations

from airlock.cli.errors import CliError
from airlock.core.settings import Settings


def start_telemetry(settings: Settings, service: str) -> None:
    from airlock.core.telemetry import TelemetryError, setup_telemetry

    try:
        setup_telemetry(settings, service)
    except TelemetryError as exc:
        raise CliError(str(exc)) from None
