"""Web API payloads for assets and asset events (``/api/v1/assets``).

An asset is known by its URI; its *consumers* are the DAGs scheduled on it, its *producers* the
tasks that have it among their outlets. An event is one update of an asset: by a task (the
``source_*`` fields name the task instance) or pushed from outside (``source`` is
``api:<user>``), which is seed 003's push-based trigger: the consumers' runs follow.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from airlock.models.types import AwareDatetime

#: Longest asset URI (the ``asset.uri`` column).
MAX_URI_LENGTH = 1500
#: Longest dedup key (the ``asset_event.dedup_key`` column).
MAX_DEDUP_KEY_LENGTH = 250


class AssetConsumer(msgspec.Struct, kw_only=True, frozen=True):
    """A DAG scheduled on the asset."""

    dag_id: str
    created_at: AwareDatetime


class AssetProducer(msgspec.Struct, kw_only=True, frozen=True):
    """A task that updates the asset (has it among its outlets)."""

    dag_id: str
    task_id: str
    created_at: AwareDatetime


class AssetView(msgspec.Struct, kw_only=True, frozen=True):
    id: int
    uri: str
    name: str
    group: str
    extra: dict[str, Any]
    created_at: AwareDatetime
    updated_at: AwareDatetime
    consumers: list[AssetConsumer] = msgspec.field(default_factory=list)
    producers: list[AssetProducer] = msgspec.field(default_factory=list)
    last_event_at: AwareDatetime | None = None


class AssetCollection(msgspec.Struct, kw_only=True, frozen=True):
    assets: list[AssetView]
    total_entries: int


class TriggeredRun(msgspec.Struct, kw_only=True, frozen=True):
    """A run an asset event triggered (consumed the event)."""

    dag_id: str
    run_id: str


class AssetEventView(msgspec.Struct, kw_only=True, frozen=True):
    id: int
    asset_id: int
    uri: str
    name: str
    group: str
    extra: dict[str, Any]
    #: ``task`` for a task's outlet, ``api:<user>`` for an event pushed through this API,
    #: ``receiver:<name>`` for a webhook's, ``completion`` for a run's end (``DagCompleted``).
    source: str
    timestamp: AwareDatetime
    source_task_instance_id: str | None = None
    source_dag_id: str | None = None
    source_run_id: str | None = None
    source_task_id: str | None = None
    source_map_index: int | None = None
    dedup_key: str | None = None
    created_dagruns: list[TriggeredRun] = msgspec.field(default_factory=list)


class AssetEventCollection(msgspec.Struct, kw_only=True, frozen=True):
    asset_events: list[AssetEventView]
    total_entries: int


class AssetEventCreate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Record an event of an existing asset, named by ``asset_id`` or ``uri`` (one of them).

    With ``dedup_key``, sending the same key for the same asset again answers the event already
    stored (200) instead of creating another (201): a retried POST makes one event.
    """

    asset_id: int | None = None
    uri: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_URI_LENGTH)] | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)
    dedup_key: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_DEDUP_KEY_LENGTH)] | None
    ) = None


__all__ = [
    "AssetCollection",
    "AssetConsumer",
    "AssetEventCollection",
    "AssetEventCreate",
    "AssetEventView",
    "AssetProducer",
    "AssetView",
    "TriggeredRun",
]
