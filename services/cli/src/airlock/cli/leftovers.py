"""Each service that starts user-code children kills, when it starts, what a killed
predecessor's children left running (see :mod:`airlock.sdk.execution_time.supervised`)."""

from __future__ import annotations

import logging

from airlock.core.settings import Settings

log = logging.getLogger("airlock.cli")


def track_children(settings: Settings) -> None:
    """Track this service's children under ``AIRLOCK_HOME/run/children``, killing what the
    children of services that died left there; a home it cannot write only loses that."""
    from airlock.sdk.execution_time.supervised import track_children as track

    folder = settings.home_path / "run" / "children"
    try:
        track(folder)
    except OSError as exc:
        log.warning(
            "cannot keep the list of child processes in %s (%s): what a killed service's "
            "children start may outlive it",
            folder,
            exc,
        )
