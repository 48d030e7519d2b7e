"""Hand queued task instances to a worker: claim them atomically, then describe each as a
:class:`~airlock.models.execution.Workload` with its own task token (DESIGN §4.2, §8).

A claim is a lease, not a state: the task stays ``queued`` with ``claimed_by``/``claimed_at`` set
until its runner moves it to ``running``. A claim older than ``[execution] claim_lease_s``, or
made before the task was last queued (a retry), no longer holds, so a task whose worker died
between the hand-out and the start is handed out again.

Two polls never receive the same task: the claim is one ``UPDATE … RETURNING id`` of rows
chosen by priority. SQLite runs it under the database's single write lock; PostgreSQL chooses
the rows once, in a materialized CTE, locking them with ``FOR UPDATE SKIP LOCKED`` so concurrent
polls pick different rows instead of queueing behind each other, and the update re-checks the
claim after the lock.

A worker that will start what it takes at once asks for it (``WorkloadRequest.start``): the
first ``start`` workloads, in priority order, are then moved to ``running`` in the same
transaction (:func:`~airlock.execution.starting.start_many`) and carry the run context that
``PATCH …/run`` would have answered, which saves a request and a transaction per task. The rest are
only claimed: a worker prefetching beyond its free slots must not have tasks counted as running
while they wait in its backlog. On PostgreSQL a poll that starts everything it takes (the usual
case) is a single statement, committed as it runs (:func:`claim_and_start`).

Hand-out is a hot path (DESIGN §7): a fixed number of statements per poll, whatever the batch.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    Integer,
    Select,
    Update,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from airlock.db import TaskInstance, upsert_insert
from airlock.execution.dag_runs import dag_run_info
from airlock.execution.starting import START_VALUES, continues_try, run_context, start_many
from airlock.execution.tables import DAG, DAG_RUN, RUN_INFO_COLUMNS, TI, WORKER, XCOM, AnyRow
from airlock.execution.task_tokens import TaskTokens
from airlock.models.execution import TaskInstanceRef, TaskRunContext, Workload
from airlock.models.states import TaskInstanceState
from airlock.scheduling import DagCache, DagVersionNotFound, TaskNotInDag

#: How fresh a worker's record of being alive is kept (``worker.last_heartbeat_at``).
TOUCH_EVERY_S = 1.0


def _claimable(one_queue: bool) -> list[ColumnElement[bool]]:
    return [
        TI.c.state == TaskInstanceState.QUEUED,
        # (an expanding IN is rendered again at every execution: one queue is the usual case)
        TI.c.queue == bindparam("one_queue")
        if one_queue
        else TI.c.queue.in_(bindparam("queues", expanding=True)),
        or_(
            TI.c.claimed_at.is_(None),
            TI.c.claimed_at < bindparam("cutoff"),
            TI.c.claimed_at < TI.c.queued_at,
        ),
    ]


_PEEK = {one: select(TI.c.id).where(*_claimable(one)).limit(1) for one in (True, False)}


@functools.cache
def _claim_statement(dialect: str, one_queue: bool) -> Update:
    chosen = (
        select(TI.c.id)
        .where(*_claimable(one_queue))
        .order_by(TI.c.priority_weight.desc(), TI.c.queued_at, TI.c.id)
        .limit(bindparam("slots", type_=Integer))
    )
    claim = update(TI).values(claimed_by=bindparam("worker"), claimed_at=bindparam("now"))
    if dialect == "postgresql":
        # The choice is made once, in a materialized CTE: as an ``IN (subquery)`` PostgreSQL
        # may run the subquery again for the rows the update has reached, and each run skips
        # the rows this statement has just claimed (``SKIP LOCKED``), so one claim could take
        # more than ``slots`` tasks.
        picked = chosen.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
        return claim.where(TI.c.id == picked.c.id, *_claimable(one_queue)).returning(TI.c.id)
    return claim.where(TI.c.id.in_(chosen.scalar_subquery()), *_claimable(one_queue)).returning(
        TI.c.id
    )


@functools.cache
def _claim_and_start_statement(one_queue: bool) -> Select[Any]:
    """PostgreSQL, a poll that starts everything it takes: claim, start, forget an earlier
    try's XComs and read the workloads, in one statement (committed as it runs).

    ``picked`` chooses as the claim does; ``started`` claims and starts them as
    :func:`~airlock.execution.starting.start_many` does (the same values, so the same try
    counting); ``forgotten`` deletes what an earlier try of a new try pushed, as
    :func:`~airlock.execution.starting.forget_earlier_try` does; the select joins each started
    instance with its run and DAG as :data:`_WORKLOADS` does.
    """
    # (The select's inner joins drop no started instance: foreign keys, enforced by PostgreSQL,
    # tie every task instance to its run and every run to its DAG.)
    picked = (
        select(TI.c.id)
        .where(*_claimable(one_queue))
        .order_by(TI.c.priority_weight.desc(), TI.c.queued_at, TI.c.id)
        .limit(bindparam("slots", type_=Integer))
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED")
    )
    started = (
        update(TI)
        .where(TI.c.id == picked.c.id, *_claimable(one_queue))
        .values(claimed_by=bindparam("worker"), claimed_at=bindparam("now"), **START_VALUES)
        .returning(*_STARTED_WORKLOAD)
        .cte("started")
    )
    forgotten = (
        delete(XCOM)
        .where(
            XCOM.c.dag_id == started.c.dag_id,
            XCOM.c.run_id == started.c.run_id,
            XCOM.c.task_id == started.c.task_id,
            XCOM.c.map_index == started.c.map_index,
            started.c.try_number > 1,
            started.c.next_method.is_(None),
            started.c.first_poke_at.is_(None),
        )
        .cte("forgotten")
    )
    return (
        select(
            *(started.c[column.name] for column in _WORKLOAD_COLUMNS),
            started.c.priority_weight,
            started.c.queued_at,
            *RUN_INFO_COLUMNS,
            DAG.c.bundle_name,
            DAG.c.relative_fileloc,
        )
        .select_from(
            started.join(
                DAG_RUN,
                (DAG_RUN.c.dag_id == started.c.dag_id) & (DAG_RUN.c.run_id == started.c.run_id),
            ).join(DAG, DAG.c.dag_id == started.c.dag_id)
        )
        .add_cte(forgotten)
    )


def claim_task_instances(
    session: Session,
    worker: str,
    queues: Sequence[str],
    slots: int,
    now: dt.datetime,
    lease_s: float,
) -> list[str]:
    """Claim up to ``slots`` queued task instances of ``queues`` for ``worker``; their ids.

    Most polls find nothing: on SQLite they look with a read first, which takes no write lock
    (on PostgreSQL the claim itself finds nothing as cheaply, and locks nothing).
    """
    one_queue = len(queues) == 1
    params: dict[str, Any] = {"cutoff": now - dt.timedelta(seconds=lease_s)}
    if one_queue:
        params["one_queue"] = queues[0]
    else:
        params["queues"] = list(queues)
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect != "postgresql" and connection.scalar(_PEEK[one_queue], params) is None:
        return []
    claim = _claim_statement(dialect, one_queue)
    params.update(slots=slots, worker=worker, now=now)
    return list(connection.execute(claim, params).scalars())


@functools.cache
def _touch_statement(dialect: str) -> Insert:
    insert = upsert_insert(dialect)
    statement = insert(WORKER).values(
        name=bindparam("worker"),
        queues=bindparam("queues", type_=WORKER.c.queues.type),
        started_at=bindparam("now"),
        last_heartbeat_at=bindparam("now"),
    )
    return statement.on_conflict_do_update(
        index_elements=[WORKER.c.name],
        set_={
            "queues": statement.excluded.queues,
            "last_heartbeat_at": statement.excluded.last_heartbeat_at,
        },
    )


def touch_worker(session: Session, name: str, queues: Sequence[str], now: dt.datetime) -> None:
    """Record that ``name`` is alive and which queues it serves (one upsert)."""
    connection = session.connection()
    connection.execute(
        _touch_statement(connection.dialect.name),
        {"worker": name, "queues": list(queues), "now": now},
    )


#: A workload's columns of its task instance (its run's and DAG's aside).
_WORKLOAD_COLUMNS = (
    TI.c.id,
    TI.c.task_id,
    TI.c.map_index,
    TI.c.try_number,
    TI.c.max_tries,
    TI.c.queue,
    TI.c.pool,
    TI.c.dag_version_id,
    TI.c.next_method,
    TI.c.first_poke_at,
)
#: What the one-statement hand-out's update returns: the workload's columns, what joins the run
#: and DAG, and the claim's order.
_STARTED_WORKLOAD = (
    *_WORKLOAD_COLUMNS,
    TI.c.dag_id,
    TI.c.run_id,
    TI.c.priority_weight,
    TI.c.queued_at,
)

_WORKLOADS = (
    select(*_WORKLOAD_COLUMNS, *RUN_INFO_COLUMNS, DAG.c.bundle_name, DAG.c.relative_fileloc)
    .select_from(
        TI.join(
            DAG_RUN, (DAG_RUN.c.dag_id == TI.c.dag_id) & (DAG_RUN.c.run_id == TI.c.run_id)
        ).join(DAG, DAG.c.dag_id == TI.c.dag_id)
    )
    .where(TI.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(TI.c.priority_weight.desc(), TI.c.queued_at, TI.c.id)
)


@dataclass(frozen=True, slots=True)
class StartAs:
    """Start the first ``count`` workloads of a hand-out under this runner."""

    count: int
    hostname: str
    pid: int


def build_workloads(
    session: Session,
    ti_ids: Sequence[str],
    tokens: TaskTokens,
    dag_cache: DagCache,
    start: StartAs | None = None,
    now: dt.datetime | None = None,
) -> list[Workload]:
    """One workload per claimed task instance, in the claim's priority order; the first
    ``start.count`` of them started."""
    if not ti_ids:
        return []
    connection = session.connection()
    rows = connection.execute(_WORKLOADS, {"ids": list(ti_ids)}).all()
    lengths = _map_lengths(session, [row for row in rows if row.map_index >= 0])
    started = (
        start_many(
            connection,
            [row.id for row in rows[: start.count]],
            start.hostname,
            start.pid,
            now or dt.datetime.now(dt.UTC),
        )
        if start is not None and start.count > 0
        else {}
    )
    workloads = []
    for row in rows:
        begun = started.get(row.id)
        # The try this hand-out runs, as the run endpoint will count it (or has counted it).
        if begun is not None:
            try_number = begun.try_number
        else:
            try_number = row.try_number + (0 if continues_try(row) else 1)
        context = None if begun is None else run_context(session, begun, row)
        workloads.append(_workload(session, row, try_number, context, tokens, dag_cache, lengths))
    return workloads


def claim_and_start(
    session: Session,
    worker: str,
    queues: Sequence[str],
    start: StartAs,
    now: dt.datetime,
    lease_s: float,
    tokens: TaskTokens,
    dag_cache: DagCache,
) -> list[Workload]:
    """PostgreSQL, on a session in autocommit: claim and start up to ``start.count`` queued task
    instances of ``queues`` for ``worker`` in one statement; their workloads, in priority order."""
    one_queue = len(queues) == 1
    params: dict[str, Any] = {
        "cutoff": now - dt.timedelta(seconds=lease_s),
        "slots": start.count,
        "worker": worker,
        "hostname": start.hostname,
        "pid": start.pid,
        "start_date": now,
        "now": now,
    }
    if one_queue:
        params["one_queue"] = queues[0]
    else:
        params["queues"] = list(queues)
    rows = sorted(
        session.connection().execute(_claim_and_start_statement(one_queue), params),
        key=_priority_order,
    )
    try:
        lengths = _map_lengths(session, [row for row in rows if row.map_index >= 0])
        return [
            _workload(
                session,
                row,
                row.try_number,
                run_context(session, row, row),
                tokens,
                dag_cache,
                lengths,
            )
            for row in rows
        ]
    except Exception:
        # The start is committed: undo it, or the tasks would wait for a runner that never
        # comes until the heartbeat check fails them.
        for row in rows:
            _unstart(session.connection(), worker, row.id, row.try_number)
        raise


def _priority_order(row: AnyRow) -> tuple[Any, ...]:
    """The claim's order (``priority_weight`` descending, then ``queued_at``, NULLs last, then
    id), for rows PostgreSQL returned in any order."""
    return (-row.priority_weight, row.queued_at is None, row.queued_at or _NO_TIME, row.id)


_NO_TIME = dt.datetime.min.replace(tzinfo=dt.UTC)


def _workload(
    session: Session,
    row: AnyRow,
    try_number: int,
    context: TaskRunContext | None,
    tokens: TaskTokens,
    dag_cache: DagCache,
    lengths: dict[tuple[str, str, str], int],
) -> Workload:
    """The workload of a claimed task instance (a row of :data:`_WORKLOADS`' columns) that
    runs try ``try_number``; ``context`` if it is started."""
    return Workload(
        ti=TaskInstanceRef(
            id=row.id,
            dag_id=row.dag_id,
            run_id=row.run_id,
            task_id=row.task_id,
            map_index=row.map_index,
            try_number=try_number,
            max_tries=row.max_tries,
            queue=row.queue,
            pool=row.pool,
        ),
        token=tokens.issue(
            row.id,
            dag_id=row.dag_id,
            run_id=row.run_id,
            bundle=row.bundle_name,
            try_number=try_number,
        ),
        bundle=row.bundle_name,
        dag_rel_path=row.relative_fileloc,
        dag_version_id=row.dag_version_id,
        dag_run=dag_run_info(row),
        execution_timeout_s=_execution_timeout(session, dag_cache, row),
        map_length=lengths.get((row.dag_id, row.run_id, row.task_id)),
        context=context,
    )


def _execution_timeout(session: Session, dag_cache: DagCache, ti: AnyRow) -> float | None:
    try:
        return dag_cache.task(session, ti.dag_version_id, ti.task_id).execution_timeout
    except (TaskNotInDag, DagVersionNotFound):
        # The runner will find out for itself, and report it, when it loads the DAG file.
        return None


def _map_lengths(session: Session, mapped: Sequence[AnyRow]) -> dict[tuple[str, str, str], int]:
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


#: A task instance handed out to ``:worker``.
_TAKEN_BY = (TI.c.id == bindparam("ti_id"), TI.c.claimed_by == bindparam("worker"))
#: A started workload its worker will never run, back to ``queued`` as it was before the start.
_UNSTART = (
    update(TI)
    .where(
        *_TAKEN_BY,
        TI.c.state == TaskInstanceState.RUNNING,
        TI.c.try_number == bindparam("of_try"),
    )
    .values(
        state=TaskInstanceState.QUEUED,
        # the try the start counted is not used (a resumed try was not counted)
        try_number=case(
            (TI.c.next_method.is_not(None) | TI.c.first_poke_at.is_not(None), TI.c.try_number),
            else_=TI.c.try_number - 1,
        ),
        hostname=None,
        pid=None,
        start_date=None,
        last_heartbeat_at=None,
        claimed_by=None,
        claimed_at=None,
    )
)
#: A claimed workload its worker will never start: the lease is dropped.
_UNCLAIM = (
    update(TI)
    .where(*_TAKEN_BY, TI.c.state == TaskInstanceState.QUEUED)
    .values(claimed_by=None, claimed_at=None)
)


def give_back(session: Session, worker: str, workloads: Sequence[Workload]) -> int:
    """Undo the hand-out of ``workloads`` to ``worker``, which will never get them (its poll's
    connection closed while they were taken): started ones are queued again with their try
    uncounted, claimed ones lose their lease. How many went back. The caller commits."""
    connection = session.connection()
    back = 0
    for workload in workloads:
        if workload.context is not None:
            back += _unstart(connection, worker, workload.ti.id, workload.ti.try_number)
        else:
            params = {"ti_id": workload.ti.id, "worker": worker}
            back += connection.execute(_UNCLAIM, params).rowcount
    return back


def _unstart(connection: Connection, worker: str, ti_id: str, try_number: int) -> int:
    params = {"ti_id": ti_id, "worker": worker, "of_try": try_number}
    return connection.execute(_UNSTART, params).rowcount


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
        #: On PostgreSQL a claim runs in a transaction of its own (see :meth:`attempt`); on SQLite
        #: its peek already makes an empty attempt a plain read.
        with sessions() as session:
            self._claim_apart = session.get_bind().dialect.name == "postgresql"
        #: When this process last recorded each worker as alive, and with which queues.
        self._touched: dict[str, tuple[tuple[str, ...], float]] = {}
        self._touched_lock = threading.Lock()

    def _needs_touch(self, worker: str, queues: Sequence[str]) -> bool:
        """Whether to record ``worker`` alive now: a busy worker polls many times a second, and
        its record only needs to be a second fresh (its polls come at least every few seconds)."""
        key, now = tuple(queues), time.monotonic()
        with self._touched_lock:
            last = self._touched.get(worker)
            if last is not None and last[0] == key and now - last[1] < TOUCH_EVERY_S:
                return False
            if len(self._touched) >= 10_000:
                self._touched.clear()
            self._touched[worker] = (key, now)
            return True

    def attempt(
        self,
        worker: str,
        queues: Sequence[str],
        slots: int,
        *,
        touch: bool,
        start: StartAs | None = None,
    ) -> list[Workload]:
        now = dt.datetime.now(dt.UTC)
        touch = touch and self._needs_touch(worker, queues)
        ids: list[str] | None = None
        if self._claim_apart:
            # Committed as it runs: most attempts of a waiting poll find nothing, and then cost
            # one round trip instead of a transaction's three. A poll that starts everything it
            # takes (the usual case) is one statement in all; otherwise what the claim takes is
            # leased to the worker, and the transaction below starts what it should.
            with self._sessions() as session:
                session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
                if touch:
                    touch_worker(session, worker, queues, now)
                if start is not None and start.count >= slots:
                    return claim_and_start(
                        session,
                        worker,
                        queues,
                        start,
                        now,
                        self._lease_s,
                        self._tokens,
                        self._dag_cache,
                    )
                ids = claim_task_instances(session, worker, queues, slots, now, self._lease_s)
            if not ids:
                return []
            touch = False
        with self._sessions() as session:
            if touch:
                touch_worker(session, worker, queues, now)
            if ids is None:
                ids = claim_task_instances(session, worker, queues, slots, now, self._lease_s)
            workloads = build_workloads(session, ids, self._tokens, self._dag_cache, start, now)
            session.commit()
        return workloads

    def give_back(self, worker: str, workloads: Sequence[Workload]) -> int:
        """:func:`give_back` in a transaction of its own."""
        with self._sessions() as session:
            back = give_back(session, worker, workloads)
            session.commit()
        return back
