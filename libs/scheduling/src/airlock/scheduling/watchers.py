"""Asset watchers: which watchers the stored DAGs declare, their leases, their status, and the
events they store (DESIGN §4.5, §8; ADR 0022).

- :func:`sync_watchers`: when a DAG gets a new version, its declared watchers replace its rows.
  A watcher whose trigger is unchanged keeps its row (and its lease: the triggerer running it
  carries on); a changed or removed one loses its row, and its holder hears so at its next
  heartbeat (*lost*).
- :func:`lease_watchers` / :func:`heartbeat_watchers` / :func:`release_watchers`: the one lease
  helper (:data:`WATCHER_LEASE`: holder, expiry, fencing epoch) over the watchers of non-stale
  DAGs; a heartbeat also records each watcher's reported status.
- :func:`store_watcher_events`: external events become asset events, all in the caller's
  transaction: ``INSERT … ON CONFLICT (asset_id, dedup_key) DO NOTHING`` in one statement, so a
  redelivered message is a ``duplicate``, not a second event; only the holder under its epoch
  may store (``refused`` otherwise, and the holder must not ack). New events are queued for the
  asset's consumers like any other event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Table,
    delete,
    exists,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from airlock.db import Asset, AssetEvent, AssetWatcher, upsert_insert
from airlock.db.assets import ensure_assets
from airlock.models.dag import SerializedWatcher
from airlock.models.internal_watchers import EventResult, WatcherStatus
from airlock.scheduling.assets import queue_for_consumers
from airlock.scheduling.leases import Held, LeasedTable, acquire, give_back, lease_params, sort_held
from airlock.scheduling.tables import DAG
from airlock.scheduling.telemetry import asset_events_stored

WATCHER = cast(Table, AssetWatcher.__table__)
ASSET = cast(Table, Asset.__table__)

#: A triggerer's lease on a watcher.
WATCHER_LEASE = LeasedTable(
    table=WATCHER,
    holder=WATCHER.c.triggerer,
    epoch=WATCHER.c.lease_epoch,
    stamp=WATCHER.c.lease_expires_at,
    stamp_is_expiry=True,
)

#: ``asset_event.source`` of a watcher's event: ``watcher:<name>``.
SOURCE_PREFIX = "watcher:"


@dataclass(frozen=True, slots=True)
class LeasedWatcherRow:
    id: int
    epoch: int
    name: str
    classpath: str
    kwargs: dict[str, Any]
    bundle: str
    dag_rel_path: str
    dag_id: str
    asset_uri: str


@dataclass(frozen=True, slots=True)
class WatcherEvent:
    watcher_id: int
    epoch: int
    dedup_key: str
    extra: dict[str, Any]


def sync_watchers(
    session: Session, declared: Mapping[str, Sequence[SerializedWatcher]], now: dt.datetime
) -> None:
    """Make each DAG's watcher rows match what its newly stored version declares."""
    if not declared:
        return
    ids = ensure_assets(session, [w.asset for ws in declared.values() for w in ws], now)
    existing = session.execute(
        select(WATCHER.c.id, WATCHER.c.dag_id, WATCHER.c.asset_id, WATCHER.c.name)
        .add_columns(WATCHER.c.classpath, WATCHER.c.kwargs)
        .where(WATCHER.c.dag_id.in_(list(declared)))
    ).all()
    wanted = {(dag_id, ids[w.asset.uri], w.name): w for dag_id, ws in declared.items() for w in ws}
    kept: set[tuple[str, int, str]] = set()
    gone: list[int] = []
    for row in existing:
        key = (row.dag_id, row.asset_id, row.name)
        want = wanted.get(key)
        if (
            want is not None
            and want.trigger_classpath == row.classpath
            and dict(want.trigger_kwargs) == dict(row.kwargs or {})
        ):
            kept.add(key)
        else:
            gone.append(row.id)
    if gone:
        session.execute(delete(WATCHER).where(WATCHER.c.id.in_(gone)))
    new = [
        {
            "dag_id": dag_id,
            "asset_id": asset_id,
            "name": name,
            "classpath": w.trigger_classpath,
            "kwargs": dict(w.trigger_kwargs),
            "created_at": now,
            "lease_epoch": 0,
            "events_stored": 0,
        }
        for (dag_id, asset_id, name), w in wanted.items()
        if (dag_id, asset_id, name) not in kept
    ]
    if new:
        session.execute(insert(WATCHER), new)


def _current_dags() -> Any:
    return select(DAG.c.dag_id).where(DAG.c.is_stale.is_(False))


def _first_of_its_name() -> Any:
    """No current DAG declared the same watcher (asset and name) before this row: several DAGs
    scheduled on one asset declare its watcher each, and one of them runs it (two consumers of
    one consumer group, or one MQTT client id, would compete)."""
    other = WATCHER.alias("same_watcher")
    return ~exists().where(
        other.c.asset_id == WATCHER.c.asset_id,
        other.c.name == WATCHER.c.name,
        other.c.id < WATCHER.c.id,
        other.c.dag_id.in_(_current_dags()),
    )


def _runnable(bundles: Sequence[str] | None) -> list[Any]:
    """The watcher's DAG is current (not stale) and, if ``bundles`` is given, in one of them;
    and it is the watcher of its asset and name that runs."""
    where = [DAG.c.is_stale.is_(False)]
    if bundles is not None:
        where.append(DAG.c.bundle_name.in_(list(bundles)))
    return [WATCHER.c.dag_id.in_(select(DAG.c.dag_id).where(*where)), _first_of_its_name()]


def lease_watchers(
    connection: Connection,
    holder: str,
    limit: int,
    now: dt.datetime,
    lease_s: float,
    *,
    bundles: Sequence[str] | None,
) -> list[LeasedWatcherRow]:
    """Lease up to ``limit`` free watchers of ``bundles`` (``None``: any) to ``holder``."""
    if limit <= 0:
        return []
    held = acquire(
        connection,
        WATCHER_LEASE,
        holder,
        limit,
        now,
        lease_s,
        where=_runnable(bundles),
        order_by=(WATCHER.c.id,),
    )
    if not held:
        return []
    rows = connection.execute(
        select(
            WATCHER.c.id,
            WATCHER.c.lease_epoch,
            WATCHER.c.name,
            WATCHER.c.classpath,
            WATCHER.c.kwargs,
            WATCHER.c.dag_id,
            DAG.c.bundle_name,
            DAG.c.relative_fileloc,
            ASSET.c.uri,
        )
        .join(DAG, DAG.c.dag_id == WATCHER.c.dag_id)
        .join(ASSET, ASSET.c.id == WATCHER.c.asset_id)
        .where(WATCHER.c.id.in_([h.key for h in held]))
    )
    return [
        LeasedWatcherRow(
            id=row.id,
            epoch=row.lease_epoch,
            name=row.name,
            classpath=row.classpath,
            kwargs=dict(row.kwargs or {}),
            bundle=row.bundle_name,
            dag_rel_path=row.relative_fileloc or "",
            dag_id=row.dag_id,
            asset_uri=row.uri,
        )
        for row in rows
    ]


def heartbeat_watchers(
    connection: Connection,
    holder: str,
    statuses: Sequence[WatcherStatus],
    now: dt.datetime,
    lease_s: float,
) -> list[int]:
    """Renew ``holder``'s leases and record each watcher's status; the ids it lost (another
    holds it, its DAG no longer declares it, or its DAG went stale)."""
    by_id = {s.id: s for s in statuses}
    kept, lost = sort_held(
        connection,
        WATCHER_LEASE,
        holder,
        [Held(s.id, s.epoch) for s in statuses],
        where=_runnable(None),
    )
    expires = lease_params(WATCHER_LEASE, holder, now, lease_s)["lease_stamp"]
    for row in kept:
        status = by_id[row.id]
        connection.execute(
            update(WATCHER)
            .where(
                WATCHER.c.id == status.id,
                WATCHER.c.triggerer == holder,
                WATCHER.c.lease_epoch == status.epoch,
            )
            .values(
                lease_expires_at=expires,
                state=status.state,
                lag=status.lag,
                last_error=status.last_error,
                status_at=now,
            )
        )
    return lost


def release_watchers(connection: Connection, holder: str, held: Sequence[Held]) -> int:
    """Give ``held`` back (a triggerer shutting down): another may take them at once."""
    return give_back(connection, WATCHER_LEASE, holder, held)


def watcher_bundles(connection: Connection, watcher_ids: Sequence[int]) -> dict[int, str]:
    """The bundle of each of ``watcher_ids`` that exists."""
    if not watcher_ids:
        return {}
    rows = connection.execute(
        select(WATCHER.c.id, DAG.c.bundle_name)
        .join(DAG, DAG.c.dag_id == WATCHER.c.dag_id)
        .where(WATCHER.c.id.in_(list(set(watcher_ids))))
    )
    return {int(row[0]): str(row[1]) for row in rows}


def store_watcher_events(
    session: Session,
    holder: str,
    events: Sequence[WatcherEvent],
    now: dt.datetime,
    *,
    allowed: Mapping[int, bool] | None = None,
) -> list[EventResult]:
    """Store ``events`` of watchers ``holder`` holds; one result per event, in order.

    ``allowed`` (watcher id → may the caller touch its bundle) refuses the others. The caller
    commits: an event is stored, and only then acked by the watcher."""
    connection = session.connection()
    ids = sorted({e.watcher_id for e in events})
    held = {
        (row.id, row.lease_epoch): row
        for row in connection.execute(
            select(WATCHER.c.id, WATCHER.c.lease_epoch, WATCHER.c.asset_id, WATCHER.c.name).where(
                WATCHER.c.id.in_(ids), WATCHER.c.triggerer == holder
            )
        )
    }
    results: list[EventResult] = []
    rows: list[dict[str, Any]] = []
    for event in events:
        row = held.get((event.watcher_id, event.epoch))
        if row is None or (allowed is not None and not allowed.get(event.watcher_id, False)):
            results.append("refused")
            continue
        results.append("stored")
        rows.append(
            {
                "asset_id": row.asset_id,
                "extra": dict(event.extra),
                "source": f"{SOURCE_PREFIX}{row.name}",
                "dedup_key": event.dedup_key,
                "timestamp": now,
            }
        )
    if not rows:
        return results
    statement = (
        upsert_insert(connection.dialect.name)(AssetEvent)
        .on_conflict_do_nothing(index_elements=["asset_id", "dedup_key"])
        .returning(AssetEvent.id, AssetEvent.asset_id, AssetEvent.dedup_key)
    )
    new: dict[tuple[int, str], int] = {}
    for start in range(0, len(rows), 1000):
        for event_id, asset_id, key in session.execute(statement, rows[start : start + 1000]):
            new[(asset_id, key)] = event_id
    # Which were new: the first event sent with each (asset, key) that the insert returned.
    first_seen: set[tuple[int, str]] = set()
    stored_by_watcher: dict[int, int] = {}
    sent = iter(rows)
    for i, event in enumerate(events):
        if results[i] == "refused":
            continue
        sent_row = next(sent)
        key = (sent_row["asset_id"], sent_row["dedup_key"])
        if key in new and key not in first_seen:
            first_seen.add(key)
            stored_by_watcher[event.watcher_id] = stored_by_watcher.get(event.watcher_id, 0) + 1
        else:
            results[i] = "duplicate"
    queue_for_consumers(session, sorted(new.values()), now)
    asset_events_stored(SOURCE_PREFIX for _ in new)
    for watcher_id, count in stored_by_watcher.items():
        connection.execute(
            update(WATCHER)
            .where(WATCHER.c.id == watcher_id)
            .values(last_event_at=now, events_stored=WATCHER.c.events_stored + count)
        )
    return results


def watchers_of_asset(connection: Connection, asset_id: int) -> list[Any]:
    """The watchers of an asset (one per name: the row that runs), with their DAG's bundle,
    for the Web API."""
    return list(
        connection.execute(
            select(WATCHER, DAG.c.bundle_name)
            .join(DAG, DAG.c.dag_id == WATCHER.c.dag_id)
            .where(WATCHER.c.asset_id == asset_id, *_runnable(None))
            .order_by(WATCHER.c.dag_id, WATCHER.c.name)
        )
    )


__all__ = [
    "SOURCE_PREFIX",
    "WATCHER_LEASE",
    "LeasedWatcherRow",
    "WatcherEvent",
    "heartbeat_watchers",
    "lease_watchers",
    "release_watchers",
    "store_watcher_events",
    "sync_watchers",
    "watcher_bundles",
    "watchers_of_asset",
]
