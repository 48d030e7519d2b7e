"""Asset rows and the DAG ↔ asset references, shared by the Internal API (DAG sync) and
``airlock.scheduling`` (task outlets).

Assets are global and known by URI. Several writers may meet an unknown URI at once (two DAG
processors, a task ending while a DAG is stored), so assets are created with ``INSERT … ON
CONFLICT DO NOTHING`` and read back: whoever wins, every writer gets the same id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Insert, delete, insert, select, update
from sqlalchemy.orm import Session

from airlock.db.engine import upsert_insert
from airlock.db.models.asset import Asset, DagScheduleAsset, DagScheduleAssetName, TaskOutletAsset
from airlock.models.dag import (
    AssetAliasRef,
    AssetAllCond,
    AssetAnyCond,
    AssetCondition,
    AssetNameRef,
    AssetOrTimeSchedule,
    AssetRef,
    AssetSchedule,
    Schedule,
)


def _references(condition: AssetCondition) -> list[AssetRef | AssetNameRef | AssetAliasRef]:
    """The references an asset condition is made of (``&``/``|`` flattened), in order."""
    found: list[AssetRef | AssetNameRef | AssetAliasRef] = []
    pending: list[AssetCondition] = [condition]
    while pending:
        item = pending.pop(0)
        if isinstance(item, AssetAllCond | AssetAnyCond):
            pending[:0] = item.items
        else:
            found.append(item)
    return found


def condition_assets(condition: AssetCondition) -> list[AssetRef]:
    """Every asset an asset condition names, in order, each once (aliases are not assets)."""
    found: dict[str, AssetRef] = {}
    for item in _references(condition):
        if isinstance(item, AssetRef):
            found.setdefault(item.uri, item)
    return list(found.values())


def schedule_assets(schedule: Schedule) -> list[AssetRef]:
    """The assets a DAG is scheduled on: none unless its schedule has an asset condition."""
    if isinstance(schedule, AssetSchedule | AssetOrTimeSchedule):
        return condition_assets(schedule.condition)
    return []


def schedule_asset_names(schedule: Schedule) -> list[str]:
    """The names of the assets a DAG is scheduled on by name only (``AssetNameRef``)."""
    if not isinstance(schedule, AssetSchedule | AssetOrTimeSchedule):
        return []
    names = [i.name for i in _references(schedule.condition) if isinstance(i, AssetNameRef)]
    return list(dict.fromkeys(names))


def _insert_ignoring_conflicts(session: Session, rows: list[dict[str, Any]]) -> None:
    statement: Insert
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        statement = upsert_insert(dialect)(Asset).on_conflict_do_nothing(index_elements=["uri"])
    else:  # pragma: no cover - SQLite and PostgreSQL are the supported databases
        statement = insert(Asset)
    session.execute(statement, rows)


def ensure_assets(session: Session, refs: Iterable[AssetRef], now: dt.datetime) -> dict[str, int]:
    """The id of each asset by URI, creating the ones not stored yet.

    A reference by URI alone (``Asset.ref(uri=...)``, ``Asset(uri=...)``) names the asset by
    its URI; when the asset's own definition (with a name) comes along, before or after, its
    name is the one stored, so that ``Asset.ref(name=...)`` finds it."""
    wanted: dict[str, AssetRef] = {}
    for ref in refs:
        if ref.uri not in wanted or wanted[ref.uri].name == ref.uri:
            wanted[ref.uri] = ref
    if not wanted:
        return {}
    known = _ids_by_uri(session, wanted)
    missing = [
        {
            "uri": ref.uri,
            "name": ref.name,
            "group": ref.group,
            "extra": dict(ref.extra),
            "created_at": now,
            "updated_at": now,
        }
        for uri, ref in wanted.items()
        if uri not in known
    ]
    if missing:
        _insert_ignoring_conflicts(session, missing)
        known = _ids_by_uri(session, wanted)
    named = [
        {"id": asset_id, "name": wanted[uri].name, "updated_at": now}
        for uri, (asset_id, name) in known.items()
        if name == uri and wanted[uri].name != uri
    ]
    if named:
        session.execute(update(Asset), named)
    return {uri: asset_id for uri, (asset_id, _) in known.items()}


def _ids_by_uri(session: Session, uris: Iterable[str]) -> dict[str, tuple[int, str]]:
    """The (id, name) of each stored asset among ``uris``."""
    rows = session.execute(select(Asset.uri, Asset.id, Asset.name).where(Asset.uri.in_(list(uris))))
    return {row.uri: (row.id, row.name) for row in rows}


def set_dag_asset_references(
    session: Session,
    references: Mapping[str, tuple[list[AssetRef], dict[str, list[AssetRef]]]],
    now: dt.datetime,
    names_by_dag: Mapping[str, list[str]] | None = None,
) -> None:
    """Replace the references of each DAG: ``dag_id → (assets it is scheduled on, task id →
    assets that task has as outlets)``, and ``names_by_dag``: the asset names it is scheduled
    on by name only. A few statements for the whole batch."""
    if not references:
        return
    dag_ids = list(references)
    every = [
        ref
        for scheduled, outlets in references.values()
        for ref in [*scheduled, *(r for refs in outlets.values() for r in refs)]
    ]
    ids = ensure_assets(session, every, now)
    session.execute(delete(DagScheduleAsset).where(DagScheduleAsset.dag_id.in_(dag_ids)))
    session.execute(delete(TaskOutletAsset).where(TaskOutletAsset.dag_id.in_(dag_ids)))
    consumers = [
        {"asset_id": ids[ref.uri], "dag_id": dag_id, "created_at": now}
        for dag_id, (scheduled, _) in references.items()
        for ref in scheduled
    ]
    producers = {
        (ids[ref.uri], dag_id, task_id)
        for dag_id, (_, outlets) in references.items()
        for task_id, refs in outlets.items()
        for ref in refs
    }
    if consumers:
        session.execute(insert(DagScheduleAsset), consumers)
    session.execute(delete(DagScheduleAssetName).where(DagScheduleAssetName.dag_id.in_(dag_ids)))
    by_name = [
        {"dag_id": dag_id, "name": name, "created_at": now}
        for dag_id, names in (names_by_dag or {}).items()
        for name in names
    ]
    if by_name:
        session.execute(insert(DagScheduleAssetName), by_name)
    if producers:
        session.execute(
            insert(TaskOutletAsset),
            [
                {"asset_id": a, "dag_id": d, "task_id": t, "created_at": now}
                for a, d, t in sorted(producers)
            ],
        )
