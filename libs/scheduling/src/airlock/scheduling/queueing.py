"""Move ``scheduled`` task instances to ``queued``, within every limit, highest priority first.

Limits honoured, all counting instances that are ``queued`` or ``running`` (a pool with
``include_deferred`` also counts ``deferred`` ones):

- the pool's slots (each instance takes its ``pool_slots``; ``slots = -1`` is unlimited; an
  instance in a pool that does not exist stays ``scheduled`` and is logged);
- the DAG's ``max_active_tasks``, per DAG run (Airflow 3's meaning);
- the task's ``max_active_tis_per_dagrun`` and ``max_active_tis_per_dag``.

Candidates are taken by ``priority_weight`` (descending), then by their run's ``run_after``, then
by map index; what does not fit stays ``scheduled`` for a later pass.

Two processes queueing into the same pool at once could both see the same free slot. On
PostgreSQL the candidates' rows are locked first (``FOR UPDATE SKIP LOCKED``: rows another
queueing transaction holds are left to it), then the pool rows (``FOR UPDATE``, in name order)
before the slots are counted, which makes queueing into one pool a short critical section;
SQLite's single writer gives the same guarantee. The final ``UPDATE … WHERE state =
'scheduled'`` makes a candidate that moved meanwhile drop out instead of being queued twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ScalarSelect, bindparam, func, select, tuple_, update
from sqlalchemy.orm import Session

from airlock.db import Dag, DagRun, TaskInstance
from airlock.models.dag import SerializedTask
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling.dag_cache import DagCache
from airlock.scheduling.errors import BadDagVersion
from airlock.scheduling.leases import TASK_CLAIM
from airlock.scheduling.listeners import record_queued
from airlock.scheduling.tables import POOL, TI, connection, one_of
from airlock.scheduling.ti_rows import CHUNK

log = logging.getLogger(__name__)

#: States that take a slot (of a pool, of the run's or the task's limits).
ACTIVE_STATES = (TIS.QUEUED, TIS.RUNNING)
_ACTIVE = ACTIVE_STATES


@dataclass(slots=True, frozen=True)
class Candidate:
    ti_id: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    pool: str
    pool_slots: int
    priority_weight: int
    run_after: dt.datetime
    max_active_tasks: int
    max_active_tis_per_dagrun: int | None = None
    max_active_tis_per_dag: int | None = None

    @classmethod
    def of(
        cls, run: Any, row: Any, task: SerializedTask | None, max_active_tasks: int
    ) -> Candidate:
        """The candidate for task instance ``row`` (id, task_id, map_index, pool, pool_slots,
        priority_weight) of ``run``; ``task`` is its task in the run's DAG version, if any."""
        return cls(
            ti_id=row.id,
            dag_id=run.dag_id,
            run_id=run.run_id,
            task_id=row.task_id,
            map_index=row.map_index,
            pool=row.pool,
            pool_slots=row.pool_slots,
            priority_weight=row.priority_weight,
            run_after=run.run_after,
            max_active_tasks=max_active_tasks,
            max_active_tis_per_dagrun=task.max_active_tis_per_dagrun if task else None,
            max_active_tis_per_dag=task.max_active_tis_per_dag if task else None,
        )


RunActivity = tuple[defaultdict[tuple[str, str], int], defaultdict[tuple[str, str, str], int]]


def queue_candidates(
    session: Session,
    candidates: Sequence[Candidate],
    now: dt.datetime,
    *,
    limit: int | None = None,
    activity: RunActivity | None = None,
    locked: bool = False,
) -> list[str]:
    """Queue as many ``candidates`` as the limits allow; the ids actually queued.

    ``activity`` — active instances per run and per (run, task) — is counted here unless the
    caller already knows it (a pass over one locked run has every instance in memory).
    ``locked``: the caller read the candidates ``FOR UPDATE SKIP LOCKED`` already.
    """
    if not locked:
        candidates = _lock_candidates(session, candidates)
    if not candidates:
        return []
    open_slots = open_pool_slots(session, {c.pool for c in candidates})
    per_run, per_run_task = activity or _active_per_run(
        session, {(c.dag_id, c.run_id) for c in candidates}
    )
    per_dag_task = _active_per_dag_task(
        session, {(c.dag_id, c.task_id) for c in candidates if c.max_active_tis_per_dag}
    )
    chosen: list[str] = []
    unknown_pools: set[str] = set()
    for c in sorted(candidates, key=lambda c: (-c.priority_weight, c.run_after, c.map_index)):
        if limit is not None and len(chosen) >= limit:
            break
        slots = open_slots.get(c.pool)
        if slots is None:
            unknown_pools.add(c.pool)
            continue
        run_key = (c.dag_id, c.run_id)
        run_task_key = (c.dag_id, c.run_id, c.task_id)
        dag_task_key = (c.dag_id, c.task_id)
        if (
            (slots >= 0 and slots < c.pool_slots)
            or per_run[run_key] >= c.max_active_tasks
            or (
                c.max_active_tis_per_dagrun
                and per_run_task[run_task_key] >= c.max_active_tis_per_dagrun
            )
            or (c.max_active_tis_per_dag and per_dag_task[dag_task_key] >= c.max_active_tis_per_dag)
        ):
            continue
        chosen.append(c.ti_id)
        if slots >= 0:
            open_slots[c.pool] = slots - c.pool_slots
        per_run[run_key] += 1
        per_run_task[run_task_key] += 1
        per_dag_task[dag_task_key] += 1
    for pool in sorted(unknown_pools):
        log.warning(
            "pool %r does not exist; its task instances stay scheduled until it is created", pool
        )
    return mark_queued(session, chosen, now)


_MARK_QUEUED = (
    update(TI)
    .where(TI.c.id.in_(bindparam("ids", expanding=True)), TI.c.state == TIS.SCHEDULED)
    .values(state=TIS.QUEUED, queued_at=bindparam("now"), **TASK_CLAIM.release_values())
    .returning(TI.c.id)
)
#: The same for one id (an expanding ``IN`` is rendered again at every execution).
_MARK_ONE_QUEUED = (
    update(TI)
    .where(TI.c.id == bindparam("ti_id"), TI.c.state == TIS.SCHEDULED)
    .values(state=TIS.QUEUED, queued_at=bindparam("now"), **TASK_CLAIM.release_values())
    .returning(TI.c.id)
)


def mark_queued(session: Session, ti_ids: Sequence[str], now: dt.datetime) -> list[str]:
    """``scheduled`` → ``queued`` for ``ti_ids`` (a fresh claim lease); the ids that moved."""
    queued: list[str] = []
    if len(ti_ids) == 1:
        params = {"ti_id": ti_ids[0], "now": now}
        queued.extend(connection(session).execute(_MARK_ONE_QUEUED, params).scalars())
    else:
        for start in range(0, len(ti_ids), CHUNK):
            params = {"ids": list(ti_ids[start : start + CHUNK]), "now": now}
            queued.extend(connection(session).execute(_MARK_QUEUED, params).scalars())
    record_queued(session, queued)
    return queued


_LOCK_SCHEDULED = (
    select(TI.c.id)
    .where(TI.c.id.in_(bindparam("ids", expanding=True)), TI.c.state == TIS.SCHEDULED)
    .with_for_update(skip_locked=True)
)


def _lock_candidates(session: Session, candidates: Sequence[Candidate]) -> Sequence[Candidate]:
    """On PostgreSQL, lock the candidates' rows, leaving out those another transaction holds.

    Task instance rows are always locked before pool rows (by everyone), so a transaction
    holding a pool lock never waits for a task instance: no deadlock between a scheduler
    queueing across runs and an API server queueing within one.
    """
    if not candidates or session.get_bind().dialect.name != "postgresql":
        return candidates
    locked: set[str] = set()
    ids = [c.ti_id for c in candidates]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        locked.update(connection(session).execute(_LOCK_SCHEDULED, {"ids": chunk}).scalars())
    return [c for c in candidates if c.ti_id in locked]


def _used_slots(*states: TIS) -> ScalarSelect[Any]:
    return (
        select(func.coalesce(func.sum(TI.c.pool_slots), 0))
        .where(TI.c.pool == POOL.c.name, one_of(TI.c.state, states))
        .scalar_subquery()
    )


_POOL_SLOTS = select(
    POOL.c.name,
    POOL.c.slots,
    POOL.c.include_deferred,
    _used_slots(*ACTIVE_STATES),
    _used_slots(TIS.DEFERRED),
)
_OPEN_POOL_SLOTS = (
    _POOL_SLOTS.where(POOL.c.name.in_(bindparam("names", expanding=True)))
    .order_by(POOL.c.name)
    .with_for_update(of=POOL)
)
_OPEN_SLOTS_OF_POOL = _POOL_SLOTS.where(POOL.c.name == bindparam("name")).with_for_update(of=POOL)


def open_pool_slots(session: Session, pools: Iterable[str]) -> dict[str, int]:
    """Free slots per existing pool (-1: unlimited), with the pool rows locked on PostgreSQL."""
    names = sorted(pools)
    if len(names) == 1:
        rows = connection(session).execute(_OPEN_SLOTS_OF_POOL, {"name": names[0]}).all()
    else:
        rows = connection(session).execute(_OPEN_POOL_SLOTS, {"names": names}).all()
    free: dict[str, int] = {}
    for name, slots, include_deferred, active, deferred in rows:
        if slots < 0:
            free[name] = -1
            continue
        free[name] = max(0, slots - int(active) - (int(deferred) if include_deferred else 0))
    return free


def activity_of(rows: Iterable[tuple[str, str, str, TIS | None]]) -> RunActivity:
    """Active (queued or running) instances per run and per (run, task), from known rows of
    ``(dag_id, run_id, task_id, state)``."""
    per_run: defaultdict[tuple[str, str], int] = defaultdict(int)
    per_run_task: defaultdict[tuple[str, str, str], int] = defaultdict(int)
    for dag_id, run_id, task_id, state in rows:
        if state in _ACTIVE:
            per_run[(dag_id, run_id)] += 1
            per_run_task[(dag_id, run_id, task_id)] += 1
    return per_run, per_run_task


def active_per_run(session: Session, dag_id: str, run_id: str) -> RunActivity:
    """Active (queued or running) instances of one run, as :func:`activity_of` counts them."""
    return _active_per_run(session, {(dag_id, run_id)})


_ACTIVE_IN_RUN = (
    select(TI.c.task_id, func.count())
    .where(
        TI.c.dag_id == bindparam("dag_id"),
        TI.c.run_id == bindparam("run_id"),
        one_of(TI.c.state, ACTIVE_STATES),
    )
    .group_by(TI.c.task_id)
)


def _active_per_run(session: Session, runs: set[tuple[str, str]]) -> RunActivity:
    per_run: defaultdict[tuple[str, str], int] = defaultdict(int)
    per_run_task: defaultdict[tuple[str, str, str], int] = defaultdict(int)
    if len(runs) == 1:
        ((dag_id, run_id),) = runs
        for task_id, count in connection(session).execute(
            _ACTIVE_IN_RUN, {"dag_id": dag_id, "run_id": run_id}
        ):
            per_run[(dag_id, run_id)] += count
            per_run_task[(dag_id, run_id, task_id)] += count
        return per_run, per_run_task
    run_filter = tuple_(TaskInstance.dag_id, TaskInstance.run_id).in_(sorted(runs))
    result = session.execute(
        select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, func.count())
        .where(run_filter, TaskInstance.state.in_(_ACTIVE))
        .group_by(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id)
    )
    for dag_id, run_id, task_id, count in result:
        per_run[(dag_id, run_id)] += count
        per_run_task[(dag_id, run_id, task_id)] += count
    return per_run, per_run_task


def _active_per_dag_task(
    session: Session, keys: set[tuple[str, str]]
) -> defaultdict[tuple[str, str], int]:
    counts: defaultdict[tuple[str, str], int] = defaultdict(int)
    if not keys:
        return counts
    result = session.execute(
        select(TaskInstance.dag_id, TaskInstance.task_id, func.count())
        .where(
            tuple_(TaskInstance.dag_id, TaskInstance.task_id).in_(sorted(keys)),
            TaskInstance.state.in_(_ACTIVE),
        )
        .group_by(TaskInstance.dag_id, TaskInstance.task_id)
    )
    for dag_id, task_id, count in result:
        counts[(dag_id, task_id)] = count
    return counts


def queue_scheduled(
    session: Session, dag_cache: DagCache, now: dt.datetime, *, limit: int = 512
) -> list[str]:
    """Queue ``scheduled`` task instances of all running runs, by priority across runs.

    The scheduler loop's queueing step (its per-run passes leave ready instances ``scheduled``):
    a pool slot goes to the highest ``priority_weight`` among every run's waiting instances.
    """
    rows = session.execute(
        select(
            TaskInstance.id,
            TaskInstance.dag_id,
            TaskInstance.run_id,
            TaskInstance.task_id,
            TaskInstance.map_index,
            TaskInstance.pool,
            TaskInstance.pool_slots,
            TaskInstance.priority_weight,
            TaskInstance.dag_version_id,
            DagRun.run_after,
            Dag.max_active_tasks,
        )
        .join(
            DagRun, (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id)
        )
        .join(Dag, Dag.dag_id == TaskInstance.dag_id)
        .where(
            TaskInstance.state == TIS.SCHEDULED,
            DagRun.state == DagRunState.RUNNING,
            Dag.is_paused.is_(False),
        )
        .order_by(TaskInstance.priority_weight.desc(), DagRun.run_after, TaskInstance.map_index)
        .limit(limit * 4)
    ).all()
    # Runs at their max_active_tasks take nothing now: leave their instances alone rather than
    # lock them (an API server ending a task of that run queues into the slot it frees, and
    # would have to skip instances this transaction holds).
    activity = _active_per_run(session, {(row.dag_id, row.run_id) for row in rows})
    candidates = []
    for row in rows:
        if activity[0][(row.dag_id, row.run_id)] >= row.max_active_tasks:
            continue
        try:
            graph = dag_cache.graph(session, row.dag_version_id)
        except BadDagVersion:
            continue  # logged once by the cache; the run's other versions still queue
        task = graph.task(row.task_id)
        candidates.append(
            Candidate(
                ti_id=row.id,
                dag_id=row.dag_id,
                run_id=row.run_id,
                task_id=row.task_id,
                map_index=row.map_index,
                pool=row.pool,
                pool_slots=row.pool_slots,
                priority_weight=row.priority_weight,
                run_after=row.run_after,
                max_active_tasks=row.max_active_tasks,
                max_active_tis_per_dagrun=task.max_active_tis_per_dagrun if task else None,
                max_active_tis_per_dag=task.max_active_tis_per_dag if task else None,
            )
        )
    # (counted again once the pools are locked: queueing into the same pools waits for that)
    return queue_candidates(session, candidates, now, limit=limit)
