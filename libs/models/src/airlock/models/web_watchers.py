"""Payloads of ``GET /api/v1/assets/{asset_id}/watchers``: an asset's watchers and how each is
doing, as the triggerer running it last reported (DESIGN §4.5; ADR 0022)."""

from __future__ import annotations

import msgspec

from airlock.models.types import AwareDatetime


class WatcherView(msgspec.Struct, kw_only=True, frozen=True):
    id: int
    dag_id: str
    asset_id: int
    name: str
    #: The event trigger's class (its kwargs stay server-side).
    classpath: str
    #: starting / running / reconnecting / failed as last reported; ``waiting`` while no triggerer
    #: holds it.
    state: str
    #: The triggerer holding it (``<token subject>/<name>``), if any.
    triggerer: str | None = None
    lease_expires_at: AwareDatetime | None = None
    #: Messages waiting at the source, when the source says.
    lag: int | None = None
    last_error: str | None = None
    status_at: AwareDatetime | None = None
    last_event_at: AwareDatetime | None = None
    events_stored: int = 0


class WatcherCollection(msgspec.Struct, kw_only=True, frozen=True):
    watchers: list[WatcherView]
    total_entries: int
