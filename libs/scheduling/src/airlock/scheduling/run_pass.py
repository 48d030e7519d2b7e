"""``schedule_run``: one scheduling pass over one DAG run, in the caller's transaction.

The pass locks the run (:mod:`airlock.scheduling.locking`), starts it if it is queued and the
DAG has room under ``max_active_runs``, creates the task instances it lacks, decides every
not-yet-started instance (:mod:`airlock.scheduling.evaluation`), writes the changes in bulk,
queues what may run now (:mod:`airlock.scheduling.queueing`), and ends the run when its task
instances say so (:mod:`airlock.scheduling.run_state`).

It is called by the scheduler loop for every active run, by the Web/Execution APIs right after
creating a run (so its first tasks are queued at once), and by ``finish_task`` after a task's end
when the incremental scheduling of :mod:`airlock.scheduling.incremental` cannot decide (the run's
end, a mapped task to expand, ``fail_fast``…). Runs of a paused DAG are evaluated (their end
state still gets decided) but not started and not queued.

:func:`schedule_run_in_turns` is the same pass for a big run on SQLite, written in short
transactions so that it never holds the one write lock for long (ADR 0018).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from airlock.db import Dag, DagRun, TaskInstance, transition
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import telemetry
from airlock.scheduling.dag_cache import DagCache
from airlock.scheduling.evaluation import evaluate, group_by_task
from airlock.scheduling.graph import DagGraph
from airlock.scheduling.locking import lock_run, lock_run_if_unchanged
from airlock.scheduling.mapping import MapLengthResolver
from airlock.scheduling.queueing import Candidate, activity_of, queue_candidates
from airlock.scheduling.run_state import decide_run_state, end_run, skip_unfinished, timed_out
from airlock.scheduling.tables import TI, connection
from airlock.scheduling.ti_rows import (
    CHUNK,
    TiRow,
    insert_rows,
    load_rows,
    new_row,
    write_changes,
)


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    """What one pass did to a run."""

    #: The run's state after the pass.
    run_state: DagRunState
    #: Task instances this pass queued: wake workers for them once the transaction committed.
    queued: tuple[str, ...] = ()
    #: Task instances created or moved to another state (queued ones included).
    changed: int = 0
    #: Task instances left ``scheduled``, waiting for a pool slot or a concurrency limit.
    waiting: int = 0
    #: True when this pass started the run (queued → running).
    started: bool = False
    #: True when this pass ended the run (→ success or failed).
    finished: bool = False


@dataclass(frozen=True, slots=True)
class DagLimits:
    is_paused: bool
    max_active_runs: int
    max_active_tasks: int


def schedule_run(
    session: Session, run: DagRun, dag_cache: DagCache, now: dt.datetime, *, queue: bool = True
) -> ScheduleResult:
    """Run one scheduling pass over ``run``; the caller commits.

    With ``queue=False`` ready task instances are left ``scheduled`` (the scheduler loop queues
    across all runs at once, by priority: :func:`airlock.scheduling.queue_scheduled`).
    """
    locked = lock_run(session, run.id, now)
    if locked is None:
        return ScheduleResult(run_state=run.state)
    return schedule_locked_run(session, locked, dag_cache, now, queue=queue)


def schedule_locked_run(
    session: Session, run: DagRun, dag_cache: DagCache, now: dt.datetime, *, queue: bool = True
) -> ScheduleResult:
    """:func:`schedule_run` for a run this transaction has already locked (and just loaded)."""
    if run.state not in (DagRunState.QUEUED, DagRunState.RUNNING):
        return ScheduleResult(run_state=run.state)
    graph = dag_cache.graph(session, run.dag_version_id)
    limits = dag_limits(session, run.dag_id, graph, lock=run.state is DagRunState.QUEUED)
    started = False
    if run.state is DagRunState.QUEUED:
        if limits.is_paused or not _may_start(session, run, limits.max_active_runs):
            return ScheduleResult(run_state=DagRunState.QUEUED)
        _start(session, run, now)
        started = True
    if timed_out(graph, run, now):
        skip_unfinished(session, run, now)
        finished = end_run(session, run, graph, DagRunState.FAILED, "timed_out", now)
        return ScheduleResult(run_state=run.state, started=started, finished=finished)

    rows = load_rows(session, run.dag_id, run.run_id)
    by_task = group_by_task(rows)
    missing = [new_row(task, -1) for tid, task in graph.tasks.items() if tid not in by_task]
    for row in missing:
        rows.append(row)
        by_task[row.task_id].append(row)
    resolver = MapLengthResolver(session, run.dag_id, run.run_id, graph, by_task)
    created = evaluate(graph, rows, now, resolver, by_task)
    fresh = [*missing, *created]
    insert_rows(
        session,
        fresh,
        dag_id=run.dag_id,
        run_id=run.run_id,
        dag_version_id=run.dag_version_id,
        tasks=graph.tasks,
        now=now,
    )
    changed = len(fresh) + write_changes(session, rows, now)

    queued: list[str] = []
    if queue and not limits.is_paused:
        candidates = _candidates(run, graph, rows, limits.max_active_tasks)
        queued = _queue_run(session, run, rows, candidates, now)
        changed += len(queued)
    finished = False
    if run.state is DagRunState.RUNNING:
        decided = decide_run_state(graph, rows)
        if decided is not None:
            finished = end_run(session, run, graph, decided[0], decided[1], now)
    waiting = sum(1 for row in rows if row.state is TIS.SCHEDULED)
    return ScheduleResult(
        run_state=run.state,
        queued=tuple(queued),
        changed=changed,
        waiting=waiting,
        started=started,
        finished=finished,
    )


_SCHEDULED_OF_RUN = select(TI.c.id).where(
    TI.c.dag_id == bindparam("dag_id"),
    TI.c.run_id == bindparam("run_id"),
    TI.c.state == TIS.SCHEDULED,
)


def schedule_run_in_turns(
    session: Session, run: DagRun, dag_cache: DagCache, now: dt.datetime, *, turn: int = CHUNK
) -> ScheduleResult:
    """:func:`schedule_run` for a big run on SQLite, holding the write lock in short turns
    (ADR 0018). ``run`` is committed and ``session`` holds nothing pending: every turn but the
    last commits, and the caller commits the last.

    The pass reads the run and decides every instance in a read transaction (no write lock),
    then writes the decided states ``turn`` instances per transaction, and queues in a last one.
    Each turn first locks the run again, on the condition that no other transaction locked it
    since this pass read it or wrote its previous turn (:func:`lock_run_if_unchanged`): whatever
    can make a decision stale — a task's end, a clear, a mark, another pass — locks the run
    first, so every turn written was decided on data that still held. When another did lock the
    run, or when the pass has more to do than moving states (instances to create, a run that
    timed out), the rest is :func:`schedule_run`'s, in one transaction. The states are written
    conditionally on the state read (:func:`~airlock.scheduling.ti_rows.write_changes`), so one
    that moved meanwhile without locking the run (a worker starting a queued instance) is kept.
    """
    run_pk = run.id
    seen = session.scalar(select(DagRun.last_scheduling_decision).where(DagRun.id == run_pk))
    graph = dag_cache.graph(session, run.dag_version_id)
    rows = load_rows(session, run.dag_id, run.run_id)
    by_task = group_by_task(rows)
    resolver = MapLengthResolver(session, run.dag_id, run.run_id, graph, by_task)
    decidable = all(tid in by_task for tid in graph.tasks)
    if decidable and evaluate(graph, rows, now, resolver, by_task):
        decidable = False  # an expansion: instances to create
    limits = dag_limits(session, run.dag_id, graph, lock=False)
    candidates = _candidates(run, graph, rows, limits.max_active_tasks)
    moves = [row for row in rows if row.changed]
    session.rollback()  # the reading is over: each turn is a transaction of its own
    started = False
    changed = 0
    for start in [*range(0, len(moves), turn), len(moves)]:
        locked = lock_run_if_unchanged(session, run_pk, seen, now) if decidable else None
        if (
            locked is None
            or locked.state not in (DagRunState.QUEUED, DagRunState.RUNNING)
            or timed_out(graph, locked, now)
        ):
            session.rollback()
            result = schedule_run(session, run, dag_cache, now)
            return ScheduleResult(
                run_state=result.run_state,
                queued=result.queued,
                changed=changed + result.changed,
                waiting=result.waiting,
                started=started or result.started,
                finished=result.finished,
            )
        current: DagRun = locked
        if current.state is DagRunState.QUEUED:
            limits = dag_limits(session, current.dag_id, graph, lock=True)
            if limits.is_paused or not _may_start(session, current, limits.max_active_runs):
                return ScheduleResult(run_state=DagRunState.QUEUED)
            _start(session, current, now)
            started = True
        if start == len(moves):
            break
        changed += write_changes(session, moves[start : start + turn], now)
        session.commit()
        seen = now
    queued: list[str] = []
    if not limits.is_paused:
        if candidates and candidates[0].max_active_tasks != limits.max_active_tasks:
            candidates = _candidates(current, graph, rows, limits.max_active_tasks)
        # Read before the turns: the scheduler may have queued some of them since.
        key = {"dag_id": current.dag_id, "run_id": current.run_id}
        still = set(connection(session).scalars(_SCHEDULED_OF_RUN, key))
        candidates = [c for c in candidates if c.ti_id in still]
        queued = _queue_run(session, current, rows, candidates, now, rows_are_fresh=False)
    finished = False
    decided = decide_run_state(graph, rows)
    if decided is not None:
        finished = end_run(session, current, graph, decided[0], decided[1], now)
    return ScheduleResult(
        run_state=current.state,
        queued=tuple(queued),
        changed=changed + len(queued),
        waiting=sum(1 for row in rows if row.state is TIS.SCHEDULED),
        started=started,
        finished=finished,
    )


def needs_scheduling(
    session: Session,
    run: DagRun,
    dag_cache: DagCache,
    now: dt.datetime,
    *,
    unchanged: bool = False,
) -> bool:
    """Whether a pass over ``run`` would change anything, judged without locking it.

    The scheduler asks this before :func:`schedule_run`, so re-examining a run that nothing
    happened to is a plain read: it takes no row lock on PostgreSQL and, above all, not SQLite's
    single write lock, which the APIs need for every task hand-off. Ready instances left
    ``scheduled`` do not count (the scheduler queues those separately).

    ``unchanged``: the caller knows the run's instances kept the :func:`instance_marks` they had
    when this last answered False, so only the clock can have made work (the run's timeout);
    their rows are not read.
    """
    if run.state is DagRunState.QUEUED:
        return True
    if run.state is not DagRunState.RUNNING:
        return False
    graph = dag_cache.graph(session, run.dag_version_id)
    if timed_out(graph, run, now):
        return True
    if unchanged:
        return False
    rows = load_rows(session, run.dag_id, run.run_id)
    by_task = group_by_task(rows)
    if any(tid not in by_task for tid in graph.tasks):
        return True
    resolver = MapLengthResolver(session, run.dag_id, run.run_id, graph, by_task)
    if evaluate(graph, rows, now, resolver, by_task) or any(row.changed for row in rows):
        return True
    return decide_run_state(graph, rows) is not None


def dag_limits(session: Session, dag_id: str, graph: DagGraph, *, lock: bool) -> DagLimits:
    statement = select(Dag.is_paused, Dag.max_active_runs, Dag.max_active_tasks).where(
        Dag.dag_id == dag_id
    )
    if lock:  # starting a run: serialize max_active_runs checks of one DAG
        statement = statement.with_for_update()
    row = session.execute(statement).one_or_none()
    if row is None:
        return DagLimits(False, graph.dag.max_active_runs, graph.dag.max_active_tasks)
    return DagLimits(row.is_paused, row.max_active_runs, row.max_active_tasks)


def _may_start(session: Session, run: DagRun, max_active_runs: int) -> bool:
    """Room under ``max_active_runs`` for this run, queued runs ahead of it going first."""
    running = session.scalar(
        select(func.count())
        .select_from(DagRun)
        .where(DagRun.dag_id == run.dag_id, DagRun.state == DagRunState.RUNNING)
    )
    ahead = session.scalar(
        select(func.count())
        .select_from(DagRun)
        .where(
            DagRun.dag_id == run.dag_id,
            DagRun.state == DagRunState.QUEUED,
            tuple_(DagRun.run_after, DagRun.id) < tuple_(run.run_after, run.id),
        )
    )
    return (running or 0) + (ahead or 0) < max_active_runs


def _start(session: Session, run: DagRun, now: dt.datetime) -> None:
    transition(
        session,
        DagRun,
        {"id": run.id},
        DagRunState.QUEUED,
        {"state": DagRunState.RUNNING, "start_date": now},
    )
    set_committed_value(run, "state", DagRunState.RUNNING)
    set_committed_value(run, "start_date", now)
    telemetry.run_started(run, now)


def _candidates(
    run: DagRun, graph: DagGraph, rows: list[TiRow], max_active_tasks: int
) -> list[Candidate]:
    return [
        Candidate.of(run, row, graph.tasks[row.task_id], max_active_tasks)
        for row in rows
        if row.state is TIS.SCHEDULED
    ]


def _queue_run(
    session: Session,
    run: DagRun,
    rows: list[TiRow],
    candidates: list[Candidate],
    now: dt.datetime,
    *,
    rows_are_fresh: bool = True,
) -> list[str]:
    """Queue what ``candidates`` the limits allow; ``rows_are_fresh``: ``rows`` are the run's
    instances as this transaction read them under the run's lock (else the instances that take
    the run's slots are counted in the database)."""
    activity = None
    if rows_are_fresh:
        activity = activity_of((run.dag_id, run.run_id, row.task_id, row.state) for row in rows)
    queued = queue_candidates(session, candidates, now, activity=activity)
    done = set(queued)
    for row in rows:
        if row.id in done:
            row.state = row.original_state = TIS.QUEUED
    return queued


#: Instances that come due by the clock alone: a run with one gets no mark (always examined).
_DUE_BY_CLOCK = (TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE)


def instance_marks(session: Session, run_ids: Sequence[int]) -> dict[int, tuple[object, ...]]:
    """A fingerprint of each run's task instances — its DAG version, how many instances are in
    each state and their tries — counted by the database in one query.

    While a run's mark stays the same, no instance of it changed state (short of two changes
    that cancel out, which the scheduler's periodic full examination catches), so a run that
    :func:`needs_scheduling` found quiet is still quiet but for its timeout. A run with an
    instance waiting for a retry or a reschedule date gets no mark: the clock alone moves it.
    Reading the rows of every active run at each pass instead costs in proportion to the
    backlog.
    """
    if not run_ids:
        return {}
    counts: defaultdict[int, list[tuple[str, int, int]]] = defaultdict(list)
    versions: dict[int, int | None] = {}
    due_by_clock: set[int] = set()
    for run_id, version, state, count, tries in session.execute(
        select(
            DagRun.id,
            DagRun.dag_version_id,
            TaskInstance.state,
            func.count(),
            func.coalesce(func.sum(TaskInstance.try_number), 0),
        )
        .join(
            TaskInstance,
            (TaskInstance.dag_id == DagRun.dag_id) & (TaskInstance.run_id == DagRun.run_id),
        )
        .where(DagRun.id.in_(list(run_ids)))
        .group_by(DagRun.id, DagRun.dag_version_id, TaskInstance.state)
    ):
        versions[run_id] = version
        counts[run_id].append((str(state), int(count), int(tries)))
        if state in _DUE_BY_CLOCK:
            due_by_clock.add(run_id)
    return {
        run_id: (versions[run_id], *sorted(found))
        for run_id, found in counts.items()
        if run_id not in due_by_clock
    }
