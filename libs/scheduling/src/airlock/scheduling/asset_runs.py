"""Asset-triggered runs: a consumer DAG runs once the events queued for it satisfy its condition
and its run policy.

A DAG scheduled on assets (``schedule=Asset(...)``, ``a & b``, ``a | b``, nested) has its
condition checked against the assets that have at least one queued event for it
(``asset_dag_run_queue``, filled by :mod:`airlock.scheduling.assets`): a single asset needs an
event of its own, ``&`` an event of every member, ``|`` one of any member. When it holds, the
DAG's run policy (``AssetRunPolicy`` in its schedule) says whether a run is due now and which
queued events it consumes:

- ``per_event`` (default): the oldest queued event of each asset that has one, so each run
  stands for one event (per asset);
- ``all_queued``: every queued event (Airflow's behaviour);
- ``batch``: ``max_events`` oldest events once that many wait; or, with ``window_s``, once the
  oldest has waited that long, the events waiting then (at most ``max_events``);
- ``debounce``: every queued event, once the newest is ``quiet_s`` old or the oldest
  ``max_wait_s``.

A created run is ``asset_triggered`` (``triggered_by="asset"``, no logical date, as in
Airflow 3); its events leave the queue and ``dag_run_asset_event`` records exactly which ones it
consumed. Events wait — never vanish — while the DAG is paused and while it has
``max_active_runs`` queued or running runs: no run is created past that limit, so a batch policy
grows its next batch meanwhile. ``Asset.ref(name=...)`` (``AssetNameRef``) is met by an event of
any asset of that name. An alias in a schedule is not resolved to assets (never met).

Exactly once, with several schedulers: the DAG row is locked (PostgreSQL) and the queue rows are
deleted with ``RETURNING`` in the transaction that creates the run, so of two schedulers that
both saw the policy due, the second finds the rows gone and creates nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Collection, Set
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from airlock.db import Asset, AssetDagRunQueue, Dag, DagRun, DagRunAssetEvent
from airlock.models.dag import (
    AssetAllCond,
    AssetAnyCond,
    AssetCondition,
    AssetNameRef,
    AssetOrTimeSchedule,
    AssetRef,
    AssetRunMode,
    AssetRunPolicy,
    AssetSchedule,
)
from airlock.models.states import DagRunState, DagRunType
from airlock.scheduling.dag_cache import DagCache
from airlock.scheduling.errors import SchedulingError
from airlock.scheduling.runs import create_dag_run
from airlock.scheduling.telemetry import asset_run_created

log = logging.getLogger(__name__)

QUEUE = cast(Table, AssetDagRunQueue.__table__)
RUN_EVENT = cast(Table, DagRunAssetEvent.__table__)

#: ``dag_run.triggered_by`` of an asset-triggered run.
TRIGGERED_BY = "asset"


def condition_met(
    condition: AssetCondition, updated_uris: set[str], updated_names: Set[str] = frozenset()
) -> bool:
    """Whether the assets with queued events (by URI, and by name for ``Asset.ref(name=...)``)
    satisfy ``condition``."""
    if isinstance(condition, AssetRef):
        return condition.uri in updated_uris
    if isinstance(condition, AssetNameRef):
        return condition.name in updated_names
    if isinstance(condition, AssetAllCond):
        return bool(condition.items) and all(
            condition_met(item, updated_uris, updated_names) for item in condition.items
        )
    if isinstance(condition, AssetAnyCond):
        return any(condition_met(item, updated_uris, updated_names) for item in condition.items)
    return False  # an alias: not resolved to assets


@dataclass
class Waiting:
    """What waits for one consumer DAG: per asset URI, the count of queued events; and the
    oldest and newest queue times over all of them."""

    version_id: int
    room: int
    counts: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # URI -> the asset's name
    oldest: dt.datetime | None = None
    newest: dt.datetime | None = None

    def add(
        self, uri: str, name: str, count: int, oldest: dt.datetime, newest: dt.datetime
    ) -> None:
        self.counts[uri] = count
        self.names[uri] = name
        self.oldest = oldest if self.oldest is None else min(self.oldest, oldest)
        self.newest = newest if self.newest is None else max(self.newest, newest)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def due_batch(policy: AssetRunPolicy, waiting: Waiting, now: dt.datetime) -> int | None:
    """How many of the oldest events the next run consumes (``0``: all of them, ``-1``: the
    oldest of each asset), or ``None`` when the policy is not due yet."""
    mode = policy.mode
    if mode is AssetRunMode.PER_EVENT:
        return -1
    if mode is AssetRunMode.ALL_QUEUED:
        return 0
    waited = (now - waiting.oldest).total_seconds() if waiting.oldest else 0.0
    if mode is AssetRunMode.BATCH:
        if policy.max_events is not None and waiting.total >= policy.max_events:
            return policy.max_events
        if policy.window_s is not None and waited >= policy.window_s:
            return policy.max_events or 0
        return None
    quiet = (now - waiting.newest).total_seconds() if waiting.newest else 0.0
    if (policy.quiet_s is not None and quiet >= policy.quiet_s) or (
        policy.max_wait_s is not None and waited >= policy.max_wait_s
    ):
        return 0
    return None


def comes_due(policy: AssetRunPolicy, waiting: Waiting) -> dt.datetime | None:
    """When a time-based policy that is not due yet becomes due, if no event arrives first."""
    times = []
    if waiting.oldest is not None:
        for seconds in (policy.window_s, policy.max_wait_s):
            if seconds is not None:
                times.append(waiting.oldest + dt.timedelta(seconds=seconds))
    if waiting.newest is not None and policy.quiet_s is not None:
        times.append(waiting.newest + dt.timedelta(seconds=policy.quiet_s))
    return min(times) if times else None


def _waiting(session: Session, dag_ids: Collection[str] | None) -> dict[str, Waiting]:
    """Per unpaused, current consumer DAG: its queued events by asset, and its room under
    ``max_active_runs`` (2 queries, whatever the number of events)."""
    rows = session.execute(
        select(
            AssetDagRunQueue.target_dag_id,
            Dag.latest_version_id,
            Dag.max_active_runs,
            Asset.uri,
            Asset.name,
            func.count(),
            func.min(AssetDagRunQueue.created_at),
            func.max(AssetDagRunQueue.created_at),
        )
        .join(Dag, Dag.dag_id == AssetDagRunQueue.target_dag_id)
        .join(Asset, Asset.id == AssetDagRunQueue.asset_id)
        .where(
            Dag.is_paused.is_(False),
            Dag.is_stale.is_(False),
            Dag.latest_version_id.is_not(None),
            *([] if dag_ids is None else [AssetDagRunQueue.target_dag_id.in_(list(dag_ids))]),
        )
        .group_by(
            AssetDagRunQueue.target_dag_id,
            Dag.latest_version_id,
            Dag.max_active_runs,
            Asset.uri,
            Asset.name,
        )
    ).all()
    if not rows:
        return {}
    active: dict[str, int] = dict(
        session.execute(
            select(DagRun.dag_id, func.count())
            .where(
                DagRun.dag_id.in_({row[0] for row in rows}),
                DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING]),
            )
            .group_by(DagRun.dag_id)
        ).all()
    )
    waiting: dict[str, Waiting] = {}
    for dag_id, version_id, max_active, uri, name, count, oldest, newest in rows:
        if version_id is None:
            continue
        room = max(0, (max_active or 0) - active.get(dag_id, 0))
        entry = waiting.setdefault(dag_id, Waiting(version_id=version_id, room=room))
        entry.add(uri, name, count, oldest, newest)
    return waiting


def create_asset_triggered_runs(
    session: Session,
    cache: DagCache,
    now: dt.datetime,
    *,
    limit: int = 50,
    dag_ids: Collection[str] | None = None,
    due: list[dt.datetime] | None = None,
    trace_parent: str | None = None,
) -> list[DagRun]:
    """Create the runs whose asset conditions and run policies the queued events satisfy (of
    ``dag_ids`` only, when given: an API that just stored an event starts its consumers' runs
    without waiting for the scheduler); the caller commits. ``due`` collects when the waiting
    time-based policies (window, quiet, max wait) come due, so the scheduler wakes then.
    ``trace_parent``, the ``traceparent`` of the request that stored the event, makes the runs
    continue its trace (ADR 0024)."""
    created: list[DagRun] = []
    for dag_id, waiting in sorted(_waiting(session, dag_ids).items()):
        if len(created) >= limit:
            break
        schedule = cache.get(session, waiting.version_id).schedule
        if not isinstance(schedule, AssetSchedule | AssetOrTimeSchedule):
            # The DAG's newest version is no longer scheduled on assets: nothing will consume these.
            session.execute(
                delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == dag_id)
            )
            continue
        while waiting.room > 0 and len(created) < limit:
            updated_names = {waiting.names[uri] for uri in waiting.counts}
            if not condition_met(schedule.condition, set(waiting.counts), updated_names):
                break
            take = due_batch(schedule.policy, waiting, now)
            if take is None:
                when = comes_due(schedule.policy, waiting)
                if due is not None and when is not None:
                    due.append(when)
                break
            run, consumed = _create_run(session, cache, dag_id, take, now, trace_parent)
            if run is None:
                break
            created.append(run)
            waiting.room -= 1
            if not _consume(waiting, consumed):
                break
    return created


def _consume(waiting: Waiting, consumed: dict[str, int]) -> bool:
    """Take what a run consumed off ``waiting``; whether events are left for another run."""
    for uri, count in consumed.items():
        left = waiting.counts.get(uri, 0) - count
        if left > 0:
            waiting.counts[uri] = left
        else:
            waiting.counts.pop(uri, None)
    # Queue times of what is left are not known without a query: the next pass decides
    # time-based policies on fresh numbers; count-based ones may go on at once.
    waiting.oldest = waiting.newest = None
    return bool(waiting.counts)


def _to_consume(dag_id: str, take: int) -> ColumnElement[bool]:
    """Which queued events of ``dag_id`` the next run consumes (see :func:`due_batch`)."""
    mine = AssetDagRunQueue.target_dag_id == dag_id
    if take == 0:
        return mine
    if take == -1:
        oldest = (
            select(func.min(AssetDagRunQueue.event_id))
            .where(mine)
            .group_by(AssetDagRunQueue.asset_id)
        )
    else:
        oldest = (
            select(AssetDagRunQueue.event_id)
            .where(mine)
            .order_by(AssetDagRunQueue.event_id)
            .limit(take)
        )
    return and_(mine, AssetDagRunQueue.event_id.in_(oldest))


def _create_run(
    session: Session,
    cache: DagCache,
    dag_id: str,
    take: int,
    now: dt.datetime,
    trace_parent: str | None,
) -> tuple[DagRun | None, dict[str, int]]:
    try:
        with session.begin_nested():
            # One creator per DAG at a time (PostgreSQL; SQLite has one writer anyway).
            session.execute(select(Dag.dag_id).where(Dag.dag_id == dag_id).with_for_update())
            # Core statements: the ORM's bulk bookkeeping costs more than the SQL at 10^4 rows.
            connection = session.connection()
            rows = connection.execute(
                delete(QUEUE)
                .where(_to_consume(dag_id, take))
                .returning(QUEUE.c.event_id, QUEUE.c.asset_id, QUEUE.c.created_at)
            ).all()
            if not rows:
                return None, {}  # another scheduler consumed them first
            consumed = sorted(row[0] for row in rows)
            run = create_dag_run(
                session,
                dag_id,
                run_type=DagRunType.ASSET_TRIGGERED,
                run_id=f"{DagRunType.ASSET_TRIGGERED.value}__{now.isoformat()}__{consumed[-1]}",
                triggered_by=TRIGGERED_BY,
                dag_cache=cache,
                now=now,
                trace_parent=trace_parent,
            )
            _record_consumed(connection, run.id, consumed)
            by_asset: dict[int, int] = defaultdict(int)
            for _, asset_id, _ in rows:
                by_asset[asset_id] += 1
            uris = dict(
                session.execute(select(Asset.id, Asset.uri).where(Asset.id.in_(by_asset))).all()
            )
    except SchedulingError as exc:
        log.warning("not creating an asset-triggered run of %s: %s", dag_id, exc)
        return None, {}
    log.info("created asset-triggered run %s of %s (%d events)", run.run_id, dag_id, len(consumed))
    asset_run_created(dag_id, min(row.created_at for row in rows), now)
    return run, {uris[asset_id]: count for asset_id, count in by_asset.items()}


def _record_consumed(connection: Connection, run_id: int, event_ids: list[int]) -> None:
    """``dag_run_asset_event`` rows of a run: on PostgreSQL one ``INSERT … SELECT unnest(…)``
    (psycopg's executemany sends a statement per row: 50,000 events took 6 s), elsewhere the
    driver's executemany (SQLite's runs in C)."""
    if connection.dialect.name == "postgresql":
        ids = bindparam("event_ids", event_ids, type_=postgresql.ARRAY(Integer))
        connection.execute(
            insert(RUN_EVENT).from_select(
                ["dag_run_id", "event_id"], select(literal(run_id, Integer), func.unnest(ids))
            )
        )
        return
    connection.execute(
        insert(RUN_EVENT), [{"dag_run_id": run_id, "event_id": event_id} for event_id in event_ids]
    )
