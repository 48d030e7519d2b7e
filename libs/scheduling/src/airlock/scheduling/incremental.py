"""Scheduling after one task instance ended: only what that end can change (DESIGN §7).

``finish_task`` runs inside the Execution API request that reports a task's end. A full pass over
the run there (:func:`~airlock.scheduling.run_pass.schedule_locked_run`) costs time in proportion
to the run's size for every task, so a run of N tasks would cost O(N²). Instead, under the run's
lock:

1. the tasks the end may unblock — the ended tasks' direct downstream tasks and, for a setup, the
   tasks in its scope — are decided from the rows of their upstream tasks (one read of just those
   rows), in topological order; a decision that ends a task (a skip, an upstream failure, an empty
   task's success) carries on to *its* downstream tasks the same way;
2. the run's ``scheduled`` instances — those just made ready, and those that waited for the slot
   the ended task freed — are queued within every limit, unless the run is already at its
   ``max_active_tasks``;
3. the run goes on while one of its instances is still progressing (scheduled, queued, running,
   waiting for a retry or a reschedule, deferred), which steps 1 and 2 usually know already and
   an ``EXISTS`` otherwise answers. When none is, the full pass decides how the run ends.

Whatever it cannot decide cheaply makes :func:`schedule_after_end` answer False, and the caller
runs the full pass instead: a run that is not running or timed out, a mapped task to expand, a
task without its task instance. Work the end cannot have caused (a retry of another task coming
due) is left to the scheduler loop's full passes, the safety net for everything.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence

from sqlalchemy import Integer, bindparam, exists, func, select
from sqlalchemy.orm import Session

from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling.evaluation import DECIDED, decide_task, why_decided
from airlock.scheduling.graph import DagGraph
from airlock.scheduling.locking import LockedRun
from airlock.scheduling.queueing import (
    ACTIVE_STATES,
    Candidate,
    active_per_run,
    open_pool_slots,
    queue_candidates,
)
from airlock.scheduling.run_pass import DagLimits, dag_limits
from airlock.scheduling.run_state import PROGRESSING_STATES, timed_out
from airlock.scheduling.tables import TI, AnyRow, connection, one_of
from airlock.scheduling.ti_rows import TiRow, load_rows, write_changes
from airlock.scheduling.trigger_rules import Decision

#: Scheduled candidates read beyond the run's free task slots (a candidate may still be refused
#: by its pool or a per-task limit; if too many are, every waiting one is read).
_SPARE_CANDIDATES = 4


class _FullPassNeeded(Exception):
    """The incremental path cannot decide this cheaply."""


def schedule_after_end(
    session: Session,
    run: LockedRun,
    graph: DagGraph,
    ended: Iterable[str],
    now: dt.datetime,
    *,
    progressing: bool = False,
    limits: DagLimits | None = None,
    freed: int = 1,
) -> bool:
    """Schedule what the end of instances of the tasks ``ended`` changes in ``run`` (locked by
    this transaction); False when the caller must run the full pass instead.

    ``progressing``: the caller knows an instance of the run is still progressing (the one that
    just ended waits for its retry, say). ``limits``: the DAG's, if the caller read them already.
    ``freed``: how many of the run's task slots the ends freed (one per task instance ended).
    """
    if run.state is not DagRunState.RUNNING or timed_out(graph, run, now):
        return False
    frontier: set[str] = set()
    for task_id in ended:
        frontier |= graph.affected_by(task_id)
    try:
        made_ready = _decide_downstream(session, run, graph, frontier, now) if frontier else 0
    except _FullPassNeeded:
        return False
    progressing = progressing or made_ready > 0
    if limits is None:
        limits = dag_limits(session, run.dag_id, graph, lock=False)
    if not limits.is_paused:
        progressing = (
            _queue_waiting(session, run, graph, limits.max_active_tasks, now, made_ready + freed)
            or progressing
        )
    # Nothing left that moves by itself: the full pass decides how the run ends.
    return progressing or _any_progressing(session, run)


def _decide_downstream(
    session: Session, run: LockedRun, graph: DagGraph, frontier: Collection[str], now: dt.datetime
) -> int:
    """Decide the not-yet-started instances of ``frontier`` and of whatever their decisions end
    in turn; write the changes. How many instances became ``scheduled``."""
    position = graph.position
    heap = [(position[task_id], task_id) for task_id in frontier]
    heapq.heapify(heap)
    waiting = set(frontier)
    by_task: dict[str, list[TiRow]] = {}
    made_ready = 0
    while heap:
        _load_context(session, run, graph, waiting, by_task)
        _, task_id = heapq.heappop(heap)
        waiting.discard(task_id)
        pending = [row for row in by_task[task_id] if row.state is None]
        if not pending:
            continue
        task = graph.tasks[task_id]
        decision = decide_task(graph, task, by_task)
        if decision is Decision.WAIT:
            continue
        if decision is Decision.RUN:
            if task.mapped is not None and any(row.map_index == -1 for row in pending):
                raise _FullPassNeeded  # the expansion reads XComs and creates instances
            state, reason = (TIS.SUCCESS if task.is_empty else TIS.SCHEDULED), None
        else:
            state = DECIDED[decision]
            reason = why_decided(graph, task, by_task, decision)
        for row in pending:
            row.state = state
            row.reason = reason
        if state is TIS.SCHEDULED:
            made_ready += len(pending)
            continue
        for below in graph.affected_by(task_id):
            if below not in waiting:
                waiting.add(below)
                heapq.heappush(heap, (position[below], below))
    write_changes(session, [row for rows in by_task.values() for row in rows], now)
    return made_ready


def _load_context(
    session: Session,
    run: LockedRun,
    graph: DagGraph,
    task_ids: Iterable[str],
    by_task: dict[str, list[TiRow]],
) -> None:
    """Read the rows ``decide_task`` needs for ``task_ids`` that ``by_task`` lacks yet."""
    needed: set[str] = set()
    for task_id in task_ids:
        task = graph.tasks[task_id]
        needed.add(task_id)
        needed.update(up for up in task.upstream if up in graph.tasks)
        needed.update(graph.indirect_setups.get(task_id, ()))
    needed -= by_task.keys()
    if not needed:
        return
    for task_id in needed:
        by_task[task_id] = []
    for row in load_rows(session, run.dag_id, run.run_id, needed):
        by_task[row.task_id].append(row)
    if any(not by_task[task_id] for task_id in needed):
        raise _FullPassNeeded  # a task without its instance: the full pass creates it


_OF_RUN = (TI.c.dag_id == bindparam("dag_id"), TI.c.run_id == bindparam("run_id"))
_ACTIVE = select(func.count()).select_from(TI).where(*_OF_RUN, one_of(TI.c.state, ACTIVE_STATES))
_CANDIDATES = (
    select(
        TI.c.id,
        TI.c.task_id,
        TI.c.map_index,
        TI.c.pool,
        TI.c.pool_slots,
        TI.c.priority_weight,
    )
    .where(*_OF_RUN, TI.c.state == TIS.SCHEDULED)
    .order_by(TI.c.priority_weight.desc(), TI.c.map_index, TI.c.task_id)
)
_SOME_CANDIDATES = _CANDIDATES.limit(bindparam("page", type_=Integer))
#: Every waiting candidate outside the pools known to be full.
_CANDIDATES_OUTSIDE = _CANDIDATES.where(TI.c.pool.not_in(bindparam("full", expanding=True)))
#: PostgreSQL: one round trip under the run's lock — the first candidates, locked (those another
#: transaction holds are left to it, as ``queue_candidates`` would), and the active count.
_LOCKED_CANDIDATES_AND_ACTIVE = (
    _CANDIDATES.add_columns(_ACTIVE.scalar_subquery().label("active"))
    .limit(bindparam("page", type_=Integer))
    .with_for_update(skip_locked=True, of=TI)
)
_ANY_PROGRESSING = select(exists().where(*_OF_RUN, one_of(TI.c.state, sorted(PROGRESSING_STATES))))


def _queue_waiting(
    session: Session,
    run: LockedRun,
    graph: DagGraph,
    max_active_tasks: int,
    now: dt.datetime,
    room: int = 1,
) -> bool:
    """Queue the run's ``scheduled`` instances that fit now; whether one is left scheduled,
    queued or running (False: none, or none known).

    It reads how many of the run's instances are active and the first candidates: as many as
    the ends made room for (``room``: the slots they freed plus the instances they made ready),
    plus a few spares for those a pool or a per-task limit refuses. Only if refusals left some
    of that room unused does it read the other waiting instances — of the pools that still
    have slots: under a backlog the pool is what refuses, and reading the run's every waiting
    instance at each task end would cost in proportion to the backlog. Ready instances the
    ends did not make room for (slots another run freed) are the scheduler loop's to queue.
    On PostgreSQL the candidates are locked in the same round trip as the count.
    """
    key = {"dag_id": run.dag_id, "run_id": run.run_id}
    locked = session.get_bind().dialect.name == "postgresql"
    if locked:
        page = min(room, max_active_tasks) + _SPARE_CANDIDATES
        params = {**key, "page": page}
        rows: Sequence[AnyRow] = (
            connection(session).execute(_LOCKED_CANDIDATES_AND_ACTIVE, params).all()
        )
        if not rows:
            return False
        active = rows[0].active
        free = max_active_tasks - active
        if free <= 0:
            return True
    else:
        active = connection(session).scalar(_ACTIVE, key) or 0
        free = max_active_tasks - active
        if free <= 0:
            return active > 0
        page = min(room, free) + _SPARE_CANDIDATES
        rows = connection(session).execute(_SOME_CANDIDATES, {**key, "page": page}).all()
        if not rows:
            return active > 0
    candidates = _candidates(run, graph, max_active_tasks, rows)
    per_run: defaultdict[tuple[str, str], int] = defaultdict(int)
    per_run[(run.dag_id, run.run_id)] = active
    per_run_task = (
        active_per_run(session, run.dag_id, run.run_id)[1]
        if any(c.max_active_tis_per_dagrun for c in candidates)
        else defaultdict(int)
    )
    queued = queue_candidates(
        session, candidates, now, activity=(per_run, per_run_task), locked=locked
    )
    if len(rows) == page and len(queued) < min(room, free):
        # Refusals left room: try the other waiting instances of pools with open slots.
        tried = {c.ti_id for c in candidates}
        pools = open_pool_slots(session, {c.pool for c in candidates})
        full = [pool for pool, slots in pools.items() if slots == 0]
        rest = [
            c
            for c in _candidates(
                run,
                graph,
                max_active_tasks,
                connection(session).execute(_CANDIDATES_OUTSIDE, {**key, "full": full}),
            )
            if c.ti_id not in tried
        ]
        queue_candidates(session, rest, now, activity=(per_run, per_run_task))
    return True


def _candidates(
    run: LockedRun, graph: DagGraph, max_active_tasks: int, rows: Iterable[AnyRow]
) -> list[Candidate]:
    return [Candidate.of(run, row, graph.tasks.get(row.task_id), max_active_tasks) for row in rows]


def _any_progressing(session: Session, run: LockedRun) -> bool:
    key = {"dag_id": run.dag_id, "run_id": run.run_id}
    return bool(connection(session).scalar(_ANY_PROGRESSING, key))
