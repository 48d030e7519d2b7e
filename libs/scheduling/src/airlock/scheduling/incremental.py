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
from collections.abc import Collection, Iterable

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from airlock.db import DagRun, TaskInstance
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling.evaluation import DECIDED, decide_task
from airlock.scheduling.graph import DagGraph
from airlock.scheduling.queueing import Candidate, active_per_run, queue_candidates
from airlock.scheduling.run_pass import dag_limits
from airlock.scheduling.run_state import PROGRESSING_STATES, timed_out
from airlock.scheduling.ti_rows import TiRow, load_rows, write_changes
from airlock.scheduling.trigger_rules import Decision

#: Scheduled candidates read per attempt beyond the run's free task slots (a candidate may still
#: be refused by its pool or a per-task limit; then every waiting one is read).
_SPARE_CANDIDATES = 16


_PROGRESSING = sorted(PROGRESSING_STATES)


class _FullPassNeeded(Exception):
    """The incremental path cannot decide this cheaply."""


def schedule_after_end(
    session: Session,
    run: DagRun,
    graph: DagGraph,
    ended: Iterable[str],
    now: dt.datetime,
    *,
    progressing: bool = False,
) -> bool:
    """Schedule what the end of instances of the tasks ``ended`` changes in ``run`` (locked by
    this transaction); False when the caller must run the full pass instead.

    ``progressing``: the caller knows an instance of the run is still progressing (the one that
    just ended waits for its retry, say).
    """
    if run.state is not DagRunState.RUNNING or timed_out(graph, run, now):
        return False
    frontier: set[str] = set()
    for task_id in ended:
        frontier |= graph.affected_by(task_id)
    try:
        made_ready = _decide_downstream(session, run, graph, frontier, now) if frontier else False
    except _FullPassNeeded:
        return False
    progressing = progressing or made_ready
    limits = dag_limits(session, run.dag_id, graph, lock=False)
    if not limits.is_paused:
        progressing = _queue_waiting(session, run, graph, limits.max_active_tasks, now) or (
            progressing
        )
    # Nothing left that moves by itself: the full pass decides how the run ends.
    return progressing or _any_progressing(session, run)


def _decide_downstream(
    session: Session, run: DagRun, graph: DagGraph, frontier: Collection[str], now: dt.datetime
) -> bool:
    """Decide the not-yet-started instances of ``frontier`` and of whatever their decisions end
    in turn; write the changes. Whether an instance became ``scheduled``."""
    position = graph.position
    heap = [(position[task_id], task_id) for task_id in frontier]
    heapq.heapify(heap)
    waiting = set(frontier)
    by_task: dict[str, list[TiRow]] = {}
    made_ready = False
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
            state = TIS.SUCCESS if task.is_empty else TIS.SCHEDULED
        else:
            state = DECIDED[decision]
        for row in pending:
            row.state = state
        if state is TIS.SCHEDULED:
            made_ready = True
            continue
        for below in graph.affected_by(task_id):
            if below not in waiting:
                waiting.add(below)
                heapq.heappush(heap, (position[below], below))
    write_changes(session, [row for rows in by_task.values() for row in rows], now)
    return made_ready


def _load_context(
    session: Session,
    run: DagRun,
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


def _queue_waiting(
    session: Session, run: DagRun, graph: DagGraph, max_active_tasks: int, now: dt.datetime
) -> bool:
    """Queue the run's ``scheduled`` instances that fit now; whether one is queued or running."""
    activity = active_per_run(session, run.dag_id, run.run_id)
    active = activity[0][(run.dag_id, run.run_id)]
    free = max_active_tasks - active
    if free <= 0:
        return active > 0
    page = free + _SPARE_CANDIDATES
    candidates = _scheduled_candidates(session, run, graph, max_active_tasks, limit=page)
    if not candidates:
        return active > 0
    queued = queue_candidates(session, candidates, now, activity=activity)
    if len(candidates) == page and len(queued) < free:
        tried = {c.ti_id for c in candidates}
        rest = [
            c
            for c in _scheduled_candidates(session, run, graph, max_active_tasks)
            if c.ti_id not in tried
        ]
        queue_candidates(session, rest, now, activity=activity)
    return True


def _scheduled_candidates(
    session: Session,
    run: DagRun,
    graph: DagGraph,
    max_active_tasks: int,
    *,
    limit: int | None = None,
) -> list[Candidate]:
    statement = (
        select(
            TaskInstance.id,
            TaskInstance.task_id,
            TaskInstance.map_index,
            TaskInstance.pool,
            TaskInstance.pool_slots,
            TaskInstance.priority_weight,
        )
        .where(
            TaskInstance.dag_id == run.dag_id,
            TaskInstance.run_id == run.run_id,
            TaskInstance.state == TIS.SCHEDULED,
        )
        .order_by(TaskInstance.priority_weight.desc(), TaskInstance.map_index, TaskInstance.task_id)
    )
    if limit is not None:
        statement = statement.limit(limit)
    candidates = []
    for row in session.execute(statement):
        task = graph.tasks.get(row.task_id)
        candidates.append(
            Candidate(
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
        )
    return candidates


def _any_progressing(session: Session, run: DagRun) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(
                    TaskInstance.dag_id == run.dag_id,
                    TaskInstance.run_id == run.run_id,
                    TaskInstance.state.in_(_PROGRESSING),
                )
            )
        )
    )
