"""Hand queued task instances to a worker: claim them atomically, start those it will run at
once, and give back what it will never get (DESIGN §4.2, §8).

A claim is a lease (:data:`airlock.scheduling.leases.TASK_CLAIM`), not a state: the task stays
``queued`` with ``claimed_by``/``claimed_at`` set until its runner moves it to ``running``. A claim
older than ``[execution] claim_lease_s``, or made before the task was last queued (a retry), no
longer holds, so a task whose worker died between the hand-out and the start is handed out again.
Two polls never receive the same task: the claim is the lease's one acquiring ``UPDATE`` of rows
chosen by priority.

A worker that will start what it takes at once asks for it (``WorkloadRequest.start``): the first
``start`` task instances, in priority order, are moved to ``running`` in the claim's transaction
(:func:`~airlock.scheduling.starting.start_many`), which saves the runner a start call per task.
The rest are only claimed, not counted as running: old clients (API 2026-11-01) and the Node
runner never ask to start, and start each task with ``PATCH …/run``. On
PostgreSQL a poll that starts everything it takes (the usual case) is one statement, committed as
it runs (:func:`claim_and_start`), built from the lease's and the start's pieces.

A started hand-out is a lease the worker must confirm: the task keeps its claim while ``running``
until the runner's first heartbeat drops it (:mod:`airlock.scheduling.heartbeats`, fenced by the
claim's epoch, which the task token carries). A reply that never reached its worker (the API died
after the start committed, or the connection broke) leaves the start unconfirmed, and the
scheduler's housekeeping queues it again with its try uncounted once ``[execution]
start_confirm_s`` has passed (:func:`~airlock.scheduling.housekeeping.return_unconfirmed`, the
lease's expire with :data:`UNSTART_VALUES`). A failure the API sees itself gives the tasks back at
once, in a session of its own: the connection that served the hand-out may be the one that broke.

What a worker receives for each task (its token, its run, its DAG file) is the Execution API's to
say: :class:`Handout` passes the :class:`HandedOut` task instances to a ``describe`` callable.

Hand-out is a hot path (DESIGN §7): a fixed number of statements per poll, whatever the batch.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    Select,
    Update,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from airlock.db import upsert_insert
from airlock.models.execution import Workload
from airlock.models.states import TaskInstanceState
from airlock.models.task_try import TaskTry
from airlock.scheduling.leases import TASK_CLAIM, lease_params
from airlock.scheduling.starting import START_VALUES, start_many
from airlock.scheduling.tables import DAG, DAG_RUN, RUN_INFO_COLUMNS, TI, WORKER, XCOM, AnyRow
from airlock.scheduling.tries import forgets_earlier_try, next_try_number, on_try, try_before_start

log = logging.getLogger(__name__)

#: How fresh a worker's record of being alive is kept (``worker.last_heartbeat_at``).
TOUCH_EVERY_S = 1.0

#: The claim's order: priority, then the longest queued.
_ORDER = (TI.c.priority_weight.desc(), TI.c.queued_at, TI.c.id)


def _claimable(one_queue: bool) -> list[ColumnElement[bool]]:
    """Queued in the poll's queues (whether a claim holds it is the lease's to say)."""
    return [
        TI.c.state == TaskInstanceState.QUEUED,
        # (an expanding IN is rendered again at every execution: one queue is the usual case)
        TI.c.queue == bindparam("one_queue")
        if one_queue
        else TI.c.queue.in_(bindparam("queues", expanding=True)),
    ]


_PEEK = {
    one: select(TI.c.id).where(TASK_CLAIM.free(), *_claimable(one)).limit(1)
    for one in (True, False)
}


@functools.cache
def _claim_statement(dialect: str, one_queue: bool) -> Update:
    return TASK_CLAIM.acquire_statement(dialect, _claimable(one_queue), _ORDER).returning(
        TI.c.id, TI.c.claim_epoch
    )


#: A workload's columns of its task instance (its run's and DAG's aside).
WORKLOAD_COLUMNS = (
    TI.c.id,
    TI.c.task_id,
    TI.c.map_index,
    TI.c.try_number,
    TI.c.max_tries,
    TI.c.queue,
    TI.c.pool,
    TI.c.dag_version_id,
    TI.c.next_method,
    TI.c.next_kwargs,
    TI.c.first_poke_at,
)
#: What the one-statement hand-out's update returns: the workload's columns, what joins the run
#: and DAG, the claim's order and epoch.
_STARTED_WORKLOAD = (
    *WORKLOAD_COLUMNS,
    TI.c.dag_id,
    TI.c.run_id,
    TI.c.priority_weight,
    TI.c.queued_at,
    TI.c.claim_epoch,
)

_WORKLOADS = (
    select(
        *WORKLOAD_COLUMNS,
        TI.c.queued_at,
        next_try_number(TI).label("next_try_number"),
        *RUN_INFO_COLUMNS,
        DAG.c.bundle_name,
        DAG.c.relative_fileloc,
    )
    .select_from(
        TI.join(
            DAG_RUN, (DAG_RUN.c.dag_id == TI.c.dag_id) & (DAG_RUN.c.run_id == TI.c.run_id)
        ).join(DAG, DAG.c.dag_id == TI.c.dag_id)
    )
    .where(TI.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(*_ORDER)
)


@functools.cache
def _claim_and_start_statement(one_queue: bool) -> Select[Any]:
    """PostgreSQL, a poll that starts everything it takes: claim, start, forget an earlier
    try's XComs and read the task instances with their runs and DAGs, in one statement.

    ``picked`` chooses as the claim does (the lease's pick); ``started`` claims and starts them
    with the lease's and the start's values; ``forgotten`` deletes what an earlier try of a new
    try pushed (the rule of :func:`~airlock.scheduling.tries.forgets_earlier_try`); the select
    joins each started instance with its run and DAG as :data:`_WORKLOADS` does.
    """
    # (The select's inner joins drop no started instance: foreign keys, enforced by PostgreSQL,
    # tie every task instance to its run and every run to its DAG.)
    where = _claimable(one_queue)
    picked = TASK_CLAIM.pick(where, _ORDER)
    started = (
        update(TI)
        .where(TI.c.id == picked.c.id, TASK_CLAIM.free(), *where)
        .values(**TASK_CLAIM.take_values(), **START_VALUES)
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
            forgets_earlier_try(started),
        )
        .cte("forgotten")
    )
    return (
        select(
            *(started.c[column.name] for column in WORKLOAD_COLUMNS),
            started.c.priority_weight,
            started.c.queued_at,
            started.c.claim_epoch,
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


def _queue_params(queues: Sequence[str]) -> dict[str, Any]:
    if len(queues) == 1:
        return {"one_queue": queues[0]}
    return {"queues": list(queues)}


@dataclass(frozen=True, slots=True)
class StartAs:
    """Start the first ``count`` task instances of a hand-out under this runner."""

    count: int
    hostname: str
    pid: int


@dataclass(frozen=True, slots=True)
class Claim:
    """A task instance handed out to a worker: the try it runs, the claim's epoch, and whether
    the hand-out started it."""

    task_try: TaskTry
    epoch: int
    started: bool


@dataclass(frozen=True, slots=True)
class HandedOut:
    """A task instance handed out, as :class:`Handout`'s ``describe`` receives it.

    ``row`` has the columns of :data:`WORKLOAD_COLUMNS`, of its run
    (``tables.RUN_INFO_COLUMNS``) and its DAG's ``bundle_name`` and ``relative_fileloc``;
    ``started`` (columns of ``starting.STARTED``) is set if the hand-out started it.
    """

    row: AnyRow
    claim: Claim
    started: AnyRow | None


def claim_task_instances(
    session: Session,
    worker: str,
    queues: Sequence[str],
    slots: int,
    now: dt.datetime,
    lease_s: float,
) -> dict[str, int]:
    """Claim up to ``slots`` queued task instances of ``queues`` for ``worker``: their ids, with
    each claim's epoch.

    Most polls find nothing: on SQLite they look with a read first, which takes no write lock
    (on PostgreSQL the claim itself finds nothing as cheaply, and locks nothing).
    """
    one_queue = len(queues) == 1
    params = {**lease_params(TASK_CLAIM, worker, now, lease_s), **_queue_params(queues)}
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect != "postgresql" and connection.scalar(_PEEK[one_queue], params) is None:
        return {}
    params["lease_limit"] = slots
    claimed = connection.execute(_claim_statement(dialect, one_queue), params)
    return dict(claimed.all())


def take_claimed(
    session: Session,
    claims: dict[str, int],
    start: StartAs | None = None,
    now: dt.datetime | None = None,
) -> list[HandedOut]:
    """Read what was claimed (``claims``: id → epoch), in the claim's priority order, and start
    the first ``start.count`` of it."""
    if not claims:
        return []
    connection = session.connection()
    rows = connection.execute(_WORKLOADS, {"ids": list(claims)}).all()
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
    handed = []
    for row in rows:
        begun = started.get(row.id)
        # The try this hand-out runs, as the start counts it (or has counted it).
        try_number = row.next_try_number if begun is None else begun.try_number
        claim = Claim(TaskTry(row.id, try_number), claims[row.id], begun is not None)
        handed.append(HandedOut(row, claim, begun))
    return handed


def claim_and_start(
    session: Session,
    worker: str,
    queues: Sequence[str],
    start: StartAs,
    now: dt.datetime,
    lease_s: float,
) -> list[HandedOut]:
    """PostgreSQL, on a session in autocommit: claim and start up to ``start.count`` queued task
    instances of ``queues`` for ``worker`` in one statement; them, in priority order. The start is
    committed: what the caller fails to hand over it must :func:`give_back`."""
    params: dict[str, Any] = {
        **lease_params(TASK_CLAIM, worker, now, lease_s),
        **_queue_params(queues),
        "lease_limit": start.count,
        "hostname": start.hostname,
        "pid": start.pid,
        "start_date": now,
        "now": now,
    }
    rows = sorted(
        session.connection().execute(_claim_and_start_statement(len(queues) == 1), params),
        key=_priority_order,
    )
    return [
        HandedOut(row, Claim(TaskTry(row.id, row.try_number), row.claim_epoch, True), row)
        for row in rows
    ]


def _priority_order(row: AnyRow) -> tuple[Any, ...]:
    """The claim's order (``priority_weight`` descending, then ``queued_at``, NULLs last, then
    id), for rows PostgreSQL returned in any order."""
    return (-row.priority_weight, row.queued_at is None, row.queued_at or _NO_TIME, row.id)


_NO_TIME = dt.datetime.min.replace(tzinfo=dt.UTC)


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


#: The task instance is still handed out under this claim (its holder and epoch).
_TAKEN = (TI.c.id == bindparam("ti_id"), TASK_CLAIM.held())
#: A started task instance its worker will never run, back to ``queued`` as it was before the
#: start: the try the start counted is not used.
UNSTART_VALUES: dict[str, Any] = {
    "state": TaskInstanceState.QUEUED,
    "try_number": try_before_start(TI),
    "hostname": None,
    "pid": None,
    "start_date": None,
    "last_heartbeat_at": None,
}
_UNSTART = (
    update(TI)
    .where(
        *_TAKEN,
        TI.c.state == TaskInstanceState.RUNNING,
        on_try(TI, bindparam("of_try")),
    )
    .values({**UNSTART_VALUES, **TASK_CLAIM.release_values()})
)
#: A claimed task instance its worker will never start: the lease is dropped.
_UNCLAIM = (
    update(TI)
    .where(*_TAKEN, TI.c.state == TaskInstanceState.QUEUED)
    .values(TASK_CLAIM.release_values())
)


def give_back(connection: Connection, worker: str, claims: Sequence[Claim]) -> int:
    """Undo the hand-out of ``claims`` to ``worker``, which will never run them: started ones are
    queued again with their try uncounted, claimed ones lose their lease. Only what is still
    ``worker``'s under the claim's epoch (and try) goes back; how many did."""
    back = 0
    for claim in claims:
        params = {
            "ti_id": claim.task_try.ti_id,
            "lease_holder": worker,
            "lease_held_epoch": claim.epoch,
        }
        if claim.started:
            params["of_try"] = claim.task_try.try_number
            back += connection.execute(_UNSTART, params).rowcount
        else:
            back += connection.execute(_UNCLAIM, params).rowcount
    return back


#: What the Execution API makes of handed-out task instances (in the same session): one workload
#: each, in the same order.
Describe = Callable[[Session, Sequence[HandedOut]], list[Workload]]


@dataclass(frozen=True, slots=True)
class Batch:
    """What one hand-out gave a worker: its workloads, and the claims behind them (to give back)."""

    workloads: list[Workload]
    claims: list[Claim]


_EMPTY = Batch([], [])


class Handout:
    """One claim attempt as the long-poll runs it in a worker thread: its own short session, so
    a poll that waits holds no DB connection."""

    def __init__(self, sessions: sessionmaker[Session], describe: Describe, lease_s: float) -> None:
        self._sessions = sessions
        self._describe = describe
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
    ) -> Batch:
        now = dt.datetime.now(dt.UTC)
        touch = touch and self._needs_touch(worker, queues)
        claims: dict[str, int] | None = None
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
                    handed = claim_and_start(session, worker, queues, start, now, self._lease_s)
                    return self._describe_started(session, worker, handed)
                claims = claim_task_instances(session, worker, queues, slots, now, self._lease_s)
            if not claims:
                return _EMPTY
            touch = False
        with self._sessions() as session:
            if touch:
                touch_worker(session, worker, queues, now)
            if claims is None:
                claims = claim_task_instances(session, worker, queues, slots, now, self._lease_s)
            handed = take_claimed(session, claims, start, now)
            workloads = self._describe(session, handed) if handed else []
            session.commit()
        return Batch(workloads, [h.claim for h in handed])

    def _describe_started(self, session: Session, worker: str, handed: list[HandedOut]) -> Batch:
        if not handed:
            return _EMPTY
        claims = [h.claim for h in handed]
        try:
            return Batch(self._describe(session, handed), claims)
        except Exception:
            # The start is committed: undo it now rather than at its confirmation deadline, on
            # a connection of its own (this session's may be the one that just broke).
            self._give_back_claims(worker, claims)
            raise

    def give_back(self, worker: str, batch: Batch) -> int:
        """:func:`give_back` of ``batch``'s claims, in a session of its own; how many went
        back (0 if the DB cannot be reached: the confirmation deadline returns them)."""
        return self._give_back_claims(worker, batch.claims)

    def _give_back_claims(self, worker: str, claims: Sequence[Claim]) -> int:
        try:
            with self._sessions() as session:
                back = give_back(session.connection(), worker, claims)
                session.commit()
        except DBAPIError as exc:
            log.warning(
                "could not give back %d task instance(s) handed out to %s (%s); they go back to "
                "the queue when their start is not confirmed",
                len(claims),
                worker,
                exc,
            )
            return 0
        return back
