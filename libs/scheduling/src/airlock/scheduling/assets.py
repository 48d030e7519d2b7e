"""Asset events: store them and queue them for each DAG scheduled on their asset.

Two sources, both inside the caller's transaction:

- a task that ends ``success`` (:func:`record_outlet_events`, called by ``finish_task``): one event
  per asset among the task's outlets, carrying the ``extra`` the runner reported for it, plus one
  per asset the runner attached to an alias outlet. The same transaction moves the task to
  ``success``, so an event exists if and only if the success does; a repeated report is answered
  before this is reached, so it never makes a second event.
- an event pushed from outside through the Web API (:func:`create_asset_event`, seed 003's
  push-based trigger), optionally with a ``dedup_key``: the same key for the same asset answers
  the event already stored instead of making another.

- a run that ends (:func:`record_completion_event`, called by ``end_run``): an event of the
  reserved asset ``airlock://dag/<dag_id>/<state>``, made only when some DAG is scheduled on it
  (``DagCompleted`` in the SDK), so a completion nobody waits for costs one indexed lookup.

Every new event is queued (``asset_dag_run_queue``) for each consumer of its asset that is not
stale — paused ones too, unlike Airflow: the events wait through the pause, and the DAG chooses on
unpause whether to run them or drop them (:func:`drop_backlog`). The scheduler turns the queue
into runs (:mod:`airlock.scheduling.asset_runs`).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import delete, insert, literal, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from airlock.db import (
    Asset,
    AssetDagRunQueue,
    AssetEvent,
    Dag,
    DagScheduleAsset,
    DagScheduleAssetName,
)
from airlock.db.assets import ensure_assets
from airlock.models.dag import AssetAliasRef, AssetRef, SerializedTask
from airlock.models.execution import AssetEventOut
from airlock.scheduling.tables import AnyRow
from airlock.scheduling.telemetry import asset_events_stored

log = logging.getLogger(__name__)

#: ``asset_event.source`` of an outlet's event.
TASK_SOURCE = "task"
#: ``asset_event.source`` of a run's completion event.
COMPLETION_SOURCE = "completion"
#: The URI scheme of the assets only Airlock itself makes events of.
RESERVED_SCHEME = "airlock://"


def completion_uri(dag_id: str, state: str) -> str:
    """The asset a run of ``dag_id`` ending in ``state`` updates (the SDK's ``DagCompleted``)."""
    return f"{RESERVED_SCHEME}dag/{dag_id}/{state}"


def record_outlet_events(
    session: Session,
    ti: AnyRow,
    task: SerializedTask,
    reported: list[AssetEventOut],
    now: dt.datetime,
) -> list[int]:
    """Store the events of a task instance that just succeeded; their ids."""
    extras = {event.uri: dict(event.extra) for event in reported}
    refs = {ref.uri: ref for ref in task.outlets if isinstance(ref, AssetRef)}
    has_alias = any(isinstance(ref, AssetAliasRef) for ref in task.outlets)
    for event in reported:
        if event.uri in refs:
            continue
        if has_alias:
            refs[event.uri] = AssetRef(name=event.name, uri=event.uri)
        else:
            log.warning(
                "task %s of %s reported an event for asset %r, which is not one of its outlets; "
                "ignored",
                ti.task_id,
                ti.dag_id,
                event.uri,
            )
    if not refs:
        return []
    ids = ensure_assets(session, refs.values(), now)
    rows = [
        {
            "asset_id": ids[uri],
            "extra": extras.get(uri, {}),
            "source": TASK_SOURCE,
            "source_task_instance_id": ti.id,
            "source_dag_id": ti.dag_id,
            "source_run_id": ti.run_id,
            "source_task_id": ti.task_id,
            "source_map_index": ti.map_index,
            "timestamp": now,
        }
        for uri in refs
    ]
    return store_events(session, rows, now)


def store_events(session: Session, rows: list[dict[str, Any]], now: dt.datetime) -> list[int]:
    """Insert ``asset_event`` rows and queue them for their assets' consumers; their ids."""
    event_ids = list(
        session.scalars(
            insert(AssetEvent).returning(AssetEvent.id, sort_by_parameter_order=True), rows
        )
    )
    queue_for_consumers(session, event_ids, now)
    asset_events_stored(row["source"] for row in rows)
    return event_ids


def queue_for_consumers(session: Session, event_ids: list[int], now: dt.datetime) -> None:
    """One queue row per (event, consumer DAG that is not stale): scheduled on the event's
    asset, or on assets of its name (``Asset.ref(name=...)``)."""
    if not event_ids:
        return
    queued_at = literal(now, AssetDagRunQueue.created_at.type)
    by_uri = (
        select(AssetEvent.id, DagScheduleAsset.dag_id, AssetEvent.asset_id, queued_at)
        .join(DagScheduleAsset, DagScheduleAsset.asset_id == AssetEvent.asset_id)
        .join(Dag, Dag.dag_id == DagScheduleAsset.dag_id)
        .where(AssetEvent.id.in_(event_ids), Dag.is_stale.is_(False))
    )
    by_name = (
        select(AssetEvent.id, DagScheduleAssetName.dag_id, AssetEvent.asset_id, queued_at)
        .join(Asset, Asset.id == AssetEvent.asset_id)
        .join(DagScheduleAssetName, DagScheduleAssetName.name == Asset.name)
        .join(Dag, Dag.dag_id == DagScheduleAssetName.dag_id)
        .where(AssetEvent.id.in_(event_ids), Dag.is_stale.is_(False))
    )
    session.execute(
        insert(AssetDagRunQueue).from_select(
            ["event_id", "target_dag_id", "asset_id", "created_at"], union(by_uri, by_name)
        )
    )


def create_asset_event(
    session: Session,
    asset_id: int,
    *,
    source: str,
    extra: dict[str, Any] | None = None,
    dedup_key: str | None = None,
    now: dt.datetime,
) -> tuple[AssetEvent, bool]:
    """A pushed event of ``asset_id`` and whether it is new (``False``: ``dedup_key`` named an
    event already stored, which is returned instead). The caller commits."""
    if dedup_key is not None:
        existing = _by_dedup_key(session, asset_id, dedup_key)
        if existing is not None:
            return existing, False
    row = {
        "asset_id": asset_id,
        "extra": dict(extra or {}),
        "source": source,
        "dedup_key": dedup_key,
        "timestamp": now,
    }
    try:
        with session.begin_nested():
            (event_id,) = store_events(session, [row], now)
    except IntegrityError:
        # The same key stored concurrently: that one wins.
        existing = _by_dedup_key(session, asset_id, dedup_key) if dedup_key else None
        if existing is None:
            raise
        return existing, False
    return session.get_one(AssetEvent, event_id), True


def _by_dedup_key(session: Session, asset_id: int, dedup_key: str) -> AssetEvent | None:
    return session.scalar(
        select(AssetEvent).where(AssetEvent.asset_id == asset_id, AssetEvent.dedup_key == dedup_key)
    )


def record_completion_event(
    session: Session, dag_id: str, run_id: str, state: str, now: dt.datetime
) -> int | None:
    """The completion event of run ``run_id`` of ``dag_id`` (ended ``state``), when a DAG is
    scheduled on it; its id."""
    asset_id = session.scalar(select(Asset.id).where(Asset.uri == completion_uri(dag_id, state)))
    if asset_id is None:
        return None
    row = {
        "asset_id": asset_id,
        "extra": {"dag_id": dag_id, "run_id": run_id, "state": state},
        "source": COMPLETION_SOURCE,
        "source_dag_id": dag_id,
        "source_run_id": run_id,
        "timestamp": now,
    }
    (event_id,) = store_events(session, [row], now)
    return event_id


def drop_backlog(session: Session, dag_id: str) -> int:
    """Drop the events waiting for ``dag_id`` (its choice on unpause); how many."""
    result = session.execute(
        delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == dag_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)
