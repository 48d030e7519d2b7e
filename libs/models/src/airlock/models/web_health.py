"""Web API payloads of health: each component's last heartbeat, and the API's version."""

from __future__ import annotations

import msgspec

from airlock.models.types import AwareDatetime


class ComponentStatus(msgspec.Struct, kw_only=True, frozen=True):
    kind: str
    name: str
    status: str
    last_heartbeat_at: AwareDatetime
    started_at: AwareDatetime | None = None
    hostname: str | None = None
    #: A triggerer's capacity, how many triggers it holds, and how often a trigger blocked its
    #: event loop.
    capacity: int | None = None
    load: int | None = None
    blocked_loops: int | None = None


class KindStatus(msgspec.Struct, kw_only=True, frozen=True):
    #: ``healthy`` when one component of the kind beat recently, else ``unhealthy``.
    status: str
    latest_heartbeat_at: AwareDatetime | None = None


class MonitorHealth(msgspec.Struct, kw_only=True, frozen=True):
    metadatabase: KindStatus
    #: Per kind: scheduler, dag-processor, triggerer, callback-processor, worker.
    kinds: dict[str, KindStatus]
    components: list[ComponentStatus]


class VersionInfo(msgspec.Struct, kw_only=True, frozen=True):
    version: str
    api_version: str
