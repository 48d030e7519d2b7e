"""Hand queued task instances to a worker: claim them atomically, then describe each as a
:class:`~airlock.models.execution.Workload` with its own task token (DESIGN §4.2, §8).

A claim is a lease, not a state: the task stays ``queued`` with ``claimed_by``/``claimed_at`` set
until its runner moves it to ``running``. A claim older than ``[execution] claim_lease_s``, or
made before the task was last queued (a retry), no longer holds, so a task whose worker died
between the hand-out and the start is handed out again.

Two polls never receive the same task: the claim is one ``UPDATE … WHERE id IN (SELECT … LIMIT n)
RETURNING id``. SQLite runs it under the database's single write lock; PostgreSQL locks the
chosen rows with ``FOR UPDATE SKIP LOCKED`` so concurrent polls pick different rows instead of
queueing behind each other, and the outer ``WHERE`` re-checks the claim after the lock.

Hand-out is a hot path (DESIGN §7): a fixed number of statements per poll, whatever the batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from airlock.db import Dag, DagRun, TaskInstance, Worker
from airlock.execution.dag_runs import dag_run_info
from airlock.execution.task_instances import continues_try
from airlock.execution.task_tokens import TaskTokens
from airlock.models.execution import TaskInstanceRef, Workload
from airlock.models.states import TaskInstanceState
from airlock.scheduling import DagCache, DagVersionNotFound, TaskNotInDag


def _claimable(queues: Sequence[str], lease_cutoff: dt.datetime) -> list[ColumnElement[bool]]:
    return [
        TaskInstance.state == TaskInstanceState.QUEUED,
        TaskInstance.queue.in_(list(queues)),
        or_(
            TaskInstance.claimed_at.is_(None),
            TaskInstance.claimed_at < lease_cutoff,
            TaskInstance.claimed_at < TaskInstance.queued_at,
        ),
    ]


def claim_task_instances(
    session: Session,
    worker: str,
    queues: Sequence[str],
    slots: int,
    now: dt.datetime,
    lease_s: float,
) -> list[str]:
    """Claim up to ``slots`` queued task instances of ``queues`` for ``worker``; their ids.

    Most polls find nothing: they look with a read first, which on SQLite takes no write lock.
    """
    cutoff = now - dt.timedelta(seconds=lease_s)
    peek = select(TaskInstance.id).where(*_claimable(queues, cutoff)).limit(1)
    if session.scalar(peek) is None:
        return []
    chosen = (
        select(TaskInstance.id)
        .where(*_claimable(queues, cutoff))
        .order_by(TaskInstance.priority_weight.desc(), TaskInstance.queued_at, TaskInstance.id)
        .limit(slots)
    )
    if session.get_bind().dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    claim = (
        update(TaskInstance)
        .where(TaskInstance.id.in_(chosen.scalar_subquery()), *_claimable(queues, cutoff))
        .values(claimed_by=worker, claimed_at=now)
        .returning(TaskInstance.id)
        .execution_options(synchronize_session=False)
    )
    return list(session.scalars(claim))


def touch_worker(session: Session, name: str, queues: Sequence[str], now: dt.datetime) -> None:
    """Record that ``name`` is alive and which queues it serves (one upsert)."""
    values: dict[str, Any] = {
        "name": name,
        "queues": list(queues),
        "started_at": now,
        "last_heartbeat_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Worker).values(values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[Worker.name],
            set_={"queues": statement.excluded.queues, "last_heartbeat_at": now},
        )
    )


def build_workloads(
    session: Session, ti_ids: Sequence[str], tokens: TaskTokens, dag_cache: DagCache
) -> list[Workload]:
    """One workload per claimed task instance, in the claim's priority order."""
    if not ti_ids:
        return []
    rows = session.execute(
        select(TaskInstance, DagRun, Dag)
        .join(
            DagRun,
            (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id),
        )
        .join(Dag, Dag.dag_id == TaskInstance.dag_id)
        .where(TaskInstance.id.in_(list(ti_ids)))
        .order_by(TaskInstance.priority_weight.desc(), TaskInstance.queued_at, TaskInstance.id)
    ).all()
    lengths = _map_lengths(session, [ti for ti, _, _ in rows if ti.map_index >= 0])
    workloads = []
    for ti, run, dag in rows:
        workloads.append(
            Workload(
                ti=TaskInstanceRef(
                    id=ti.id,
                    dag_id=ti.dag_id,
                    run_id=ti.run_id,
                    task_id=ti.task_id,
                    map_index=ti.map_index,
                    # The try this hand-out runs, as the run endpoint will count it.
                    try_number=ti.try_number + (0 if continues_try(ti) else 1),
                    max_tries=ti.max_tries,
                    queue=ti.queue,
                    pool=ti.pool,
                ),
                token=tokens.issue(
                    ti.id, dag_id=ti.dag_id, run_id=ti.run_id, bundle=dag.bundle_name
                ),
                bundle=dag.bundle_name,
                relative_fileloc=dag.relative_fileloc,
                dag_version_id=ti.dag_version_id,
                dag_run=dag_run_info(run),
                execution_timeout_s=_execution_timeout(session, dag_cache, ti),
                map_length=lengths.get((ti.dag_id, ti.run_id, ti.task_id)),
            )
        )
    return workloads


def _execution_timeout(session: Session, dag_cache: DagCache, ti: TaskInstance) -> float | None:
    try:
        return dag_cache.task(session, ti.dag_version_id, ti.task_id).execution_timeout
    except (TaskNotInDag, DagVersionNotFound):
        # The runner will find out for itself, and report it, when it loads the DAG file.
        return None


def _map_lengths(
    session: Session, mapped: Sequence[TaskInstance]
) -> dict[tuple[str, str, str], int]:
    """How many instances each mapped task of these runs has."""
    if not mapped:
        return {}
    keys = {(ti.dag_id, ti.run_id, ti.task_id) for ti in mapped}
    counts = session.execute(
        select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, func.count())
        .where(
            TaskInstance.dag_id.in_({k[0] for k in keys}),
            TaskInstance.run_id.in_({k[1] for k in keys}),
            TaskInstance.task_id.in_({k[2] for k in keys}),
            TaskInstance.map_index >= 0,
        )
        .group_by(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id)
    ).all()
    return {(d, r, t): n for d, r, t, n in counts if (d, r, t) in keys}


class Handout:
    """One claim attempt as the long-poll runs it in a worker thread: its own short session, so
    a poll that waits holds no DB connection."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        tokens: TaskTokens,
        dag_cache: DagCache,
        lease_s: float,
    ) -> None:
        self._sessions = sessions
        self._tokens = tokens
        self._dag_cache = dag_cache
        self._lease_s = lease_s

    def attempt(
        self, worker: str, queues: Sequence[str], slots: int, *, touch: bool
    ) -> list[Workload]:
        now = dt.datetime.now(dt.UTC)
        with self._sessions() as session:
            if touch:
                touch_worker(session, worker, queues, now)
            ids = claim_task_instances(session, worker, queues, slots, now, self._lease_s)
            workloads = build_workloads(session, ids, self._tokens, self._dag_cache)
            session.commit()
        return workloads
