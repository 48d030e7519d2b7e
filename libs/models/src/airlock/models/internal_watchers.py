"""Payloads of the Internal API's watcher endpoints, which a triggerer (service token, role
``triggerer``) uses to run asset watchers (DESIGN §4.5, §8; ADR 0022).

- ``POST /internal/watchers/lease`` (:class:`WatcherLeaseRequest` → :class:`WatcherLeaseBatch`):
  take up to ``limit`` free watchers of the token's bundles, each with its lease's ``epoch``.
- ``POST /internal/watchers/heartbeat`` (:class:`WatcherHeartbeat` →
  :class:`WatcherHeartbeatReply`): renew the leases held and report each watcher's status; the
  reply names the watchers *lost* (another triggerer holds them now, or their DAG no longer
  declares them): stop running those.
- ``POST /internal/watchers/events`` (:class:`WatcherEventBatch` → :class:`WatcherEventResults`):
  store external events as asset events, many in one transaction. Each result says ``stored``
  or ``duplicate`` (its dedup key was stored before: a redelivery) — both mean *ack the source
  now* — or ``refused`` (the lease moved on: do not ack; the new holder gets the message).
- ``POST /internal/watchers/release``: give leases back on shutdown.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=250)]
#: The ``asset_event.dedup_key`` column's width.
_DedupKey = Annotated[str, msgspec.Meta(min_length=1, max_length=250)]

WatcherState = Literal["starting", "running", "reconnecting", "failed"]
EventResult = Literal["stored", "duplicate", "refused"]


class _Struct(msgspec.Struct, kw_only=True, frozen=True):
    pass


class WatcherLeaseRequest(_Struct, frozen=True, kw_only=True):
    triggerer: _Name
    limit: Annotated[int, msgspec.Meta(ge=0, le=10_000)]


class LeasedWatcher(_Struct, frozen=True, kw_only=True):
    id: int
    epoch: int
    name: str
    classpath: str
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)
    bundle: str
    #: The DAG file inside the bundle: a trigger class defined in it is loaded from there.
    dag_rel_path: str
    dag_id: str
    asset_uri: str


class WatcherLeaseBatch(_Struct, frozen=True, kw_only=True):
    watchers: list[LeasedWatcher]
    lease_s: float


class WatcherStatus(_Struct, frozen=True, kw_only=True):
    """A held watcher and how it is doing."""

    id: int
    epoch: int
    #: ``starting`` until the trigger reports (it may not be reading its source yet).
    state: WatcherState = "starting"
    #: Messages waiting at the source, when the source says.
    lag: Annotated[int, msgspec.Meta(ge=0)] | None = None
    last_error: Annotated[str, msgspec.Meta(max_length=10_000)] | None = None


class WatcherHeartbeat(_Struct, frozen=True, kw_only=True):
    triggerer: _Name
    held: list[WatcherStatus] = msgspec.field(default_factory=list)


class WatcherHeartbeatReply(_Struct, frozen=True, kw_only=True):
    lost: list[int] = msgspec.field(default_factory=list)
    lease_s: float


class WatcherEventIn(_Struct, frozen=True, kw_only=True):
    watcher_id: int
    epoch: int
    #: The source's identity of the message (stream id, sequence, offset, path+mtime, …):
    #: unique per asset, so a redelivered message is answered ``duplicate``.
    dedup_key: _DedupKey
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class WatcherEventBatch(_Struct, frozen=True, kw_only=True):
    triggerer: _Name
    events: Annotated[list[WatcherEventIn], msgspec.Meta(max_length=5000)]


class WatcherEventResults(_Struct, frozen=True, kw_only=True):
    #: One per event sent, in order.
    results: list[EventResult]


class HeldWatcher(_Struct, frozen=True, kw_only=True):
    id: int
    epoch: int


class WatcherRelease(_Struct, frozen=True, kw_only=True):
    triggerer: _Name
    held: list[HeldWatcher] = msgspec.field(default_factory=list)


class WatchersReleased(_Struct, frozen=True, kw_only=True):
    released: int
