"""Asset-triggered runs: a consumer DAG runs once the events queued for it satisfy its condition.

A DAG scheduled on assets (``schedule=Asset(...)``, ``a & b``, ``a | b``, nested) has its
condition checked against the assets that have at least one queued event for it
(``asset_dag_run_queue``, filled by :mod:`airlock.scheduling.assets`): a single asset needs an
event of its own, ``&`` an event of every member, ``|`` one of any member. When it holds, one
``asset_triggered`` run (``triggered_by="asset"``, no logical date, as in Airflow 3) is created
and **every** event queued for that DAG is consumed by it: the rows leave the queue and
``dag_run_asset_event`` records which events the run consumed. Events of a condition not yet
satisfied stay queued. An alias in a schedule is not resolved to assets (never satisfied).

Exactly once, with several schedulers: the queue rows are deleted with ``RETURNING`` in the same
transaction that creates the run, so of two schedulers that both saw the condition hold, the one
whose delete returns nothing creates nothing. The run starts like any queued run: on the
scheduler's next look at it, under ``max_active_runs``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from airlock.db import Asset, AssetDagRunQueue, Dag, DagRun, DagRunAssetEvent
from airlock.models.dag import (
    AssetAllCond,
    AssetAnyCond,
    AssetCondition,
    AssetOrTimeSchedule,
    AssetRef,
    AssetSchedule,
)
from airlock.models.states import DagRunType
from airlock.scheduling.dag_cache import DagCache
from airlock.scheduling.errors import SchedulingError
from airlock.scheduling.runs import create_dag_run

log = logging.getLogger(__name__)

#: ``dag_run.triggered_by`` of an asset-triggered run.
TRIGGERED_BY = "asset"


def condition_met(condition: AssetCondition, updated_uris: set[str]) -> bool:
    """Whether the assets with queued events (by URI) satisfy ``condition``."""
    if isinstance(condition, AssetRef):
        return condition.uri in updated_uris
    if isinstance(condition, AssetAllCond):
        return bool(condition.items) and all(
            condition_met(item, updated_uris) for item in condition.items
        )
    if isinstance(condition, AssetAnyCond):
        return any(condition_met(item, updated_uris) for item in condition.items)
    return False  # an alias: not resolved to assets


def create_asset_triggered_runs(
    session: Session, cache: DagCache, now: dt.datetime, *, limit: int = 50
) -> list[DagRun]:
    """Create the runs whose asset conditions the queued events satisfy; the caller commits."""
    pending = session.execute(
        select(AssetDagRunQueue.target_dag_id, Dag.latest_version_id, Asset.uri)
        .distinct()
        .join(Dag, Dag.dag_id == AssetDagRunQueue.target_dag_id)
        .join(Asset, Asset.id == AssetDagRunQueue.asset_id)
        .where(
            Dag.is_paused.is_(False),
            Dag.is_stale.is_(False),
            Dag.latest_version_id.is_not(None),
        )
    ).all()
    updated: dict[tuple[str, int], set[str]] = defaultdict(set)
    for dag_id, version_id, uri in pending:
        if version_id is not None:
            updated[(dag_id, version_id)].add(uri)
    created: list[DagRun] = []
    for (dag_id, version_id), uris in sorted(updated.items()):
        if len(created) >= limit:
            break
        schedule = cache.get(session, version_id).schedule
        if not isinstance(schedule, AssetSchedule | AssetOrTimeSchedule):
            # The DAG's newest version is no longer scheduled on assets: nothing will consume these.
            session.execute(
                delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == dag_id)
            )
            continue
        if not condition_met(schedule.condition, uris):
            continue
        run = _create_run(session, cache, dag_id, now)
        if run is not None:
            created.append(run)
    return created


def _create_run(session: Session, cache: DagCache, dag_id: str, now: dt.datetime) -> DagRun | None:
    try:
        with session.begin_nested():
            consumed = sorted(
                session.scalars(
                    delete(AssetDagRunQueue)
                    .where(AssetDagRunQueue.target_dag_id == dag_id)
                    .returning(AssetDagRunQueue.event_id)
                )
            )
            if not consumed:
                return None  # another scheduler consumed them first
            run = create_dag_run(
                session,
                dag_id,
                run_type=DagRunType.ASSET_TRIGGERED,
                run_id=f"{DagRunType.ASSET_TRIGGERED.value}__{now.isoformat()}__{consumed[-1]}",
                triggered_by=TRIGGERED_BY,
                dag_cache=cache,
                now=now,
            )
            session.execute(
                insert(DagRunAssetEvent),
                [{"dag_run_id": run.id, "event_id": event_id} for event_id in consumed],
            )
    except SchedulingError as exc:
        log.warning("not creating an asset-triggered run of %s: %s", dag_id, exc)
        return None
    log.info("created asset-triggered run %s of %s (%d events)", run.run_id, dag_id, len(consumed))
    return run
