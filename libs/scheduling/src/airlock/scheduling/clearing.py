"""Clearing: send finished (or running) task instances back to the scheduler to run again.

What people do from the Web API when a task failed for a reason that is gone, or when an upstream
table was fixed and everything after it must run again. Clearing a task instance gives it back
*no state*, exactly what a fresh run's instances start with; the next scheduling pass (the
scheduler's, or the one the API runs in the same transaction) decides it by its trigger rule as
usual. Airflow's rules:

- a cleared instance keeps ``try_number`` (its past tries stay in ``task_instance_history`` and
  their logs stay readable) and gets ``max_tries = try_number + retries``, so it has its full
  retries again;
- a *running* instance is cleared too: its runner's next heartbeat answers "stop" (the state is
  no longer ``running`` under it) and its final report is refused with a conflict;
- resume data (``next_method``, ``first_poke_at``), a pending retry date and a worker's claim
  are dropped, so the next start is a new try;
- a finished run goes back to ``queued`` (it starts again under ``max_active_runs``); a queued
  or running run keeps its state. The run keeps the DAG version it was created with.

Which tasks: the given ones, plus (on request) their downstream and/or upstream tasks in the
run's DAG version, optionally only those that failed. The run is locked first
(:mod:`airlock.scheduling.locking`), so a task ending at the same moment either lands before the
clear (and is cleared) or after it (and is refused).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.orm import Session

from airlock.db import DagRun, TaskInstance, TaskState, transition
from airlock.models.states import TERMINAL_DAG_RUN_STATES, DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling.dag_cache import DagCache
from airlock.scheduling.errors import SchedulingError, TaskNotInDag
from airlock.scheduling.graph import DagGraph
from airlock.scheduling.leases import TASK_CLAIM
from airlock.scheduling.locking import lock_run_by_key
from airlock.scheduling.ti_rows import CHUNK

#: What ``only_failed`` keeps.
FAILED_STATES = (TIS.FAILED, TIS.UPSTREAM_FAILED)


class DagRunNotFound(SchedulingError, LookupError):
    """No run with that run id for the DAG."""


@dataclass(frozen=True, slots=True)
class AffectedTask:
    """A task instance a clear (or a mark) applies to, as it was before."""

    id: str
    task_id: str
    map_index: int
    state: TIS | None


@dataclass(frozen=True, slots=True)
class RunChange:
    """What a clear or a mark did: the instances it changed and the run's state after it."""

    run: DagRun
    task_instances: tuple[AffectedTask, ...]
    run_state: DagRunState


def related_tasks(
    graph: DagGraph,
    task_ids: Iterable[str],
    *,
    upstream: bool = False,
    downstream: bool = False,
) -> set[str]:
    """``task_ids`` plus, on request, every task up- or downstream of them in ``graph``.

    Raises :class:`TaskNotInDag` naming the ids the DAG version does not define.
    """
    wanted = set(task_ids)
    unknown = sorted(wanted - set(graph.tasks))
    if unknown:
        raise TaskNotInDag(
            f"task(s) {', '.join(map(repr, unknown))} are not in version of DAG "
            f"{graph.dag.dag_id!r} this run uses; its tasks are: {', '.join(sorted(graph.tasks))}"
        )
    found = set(wanted)
    if downstream:
        for task_id in wanted:
            found |= graph.descendants(task_id)
    if upstream:
        pending = list(wanted)
        while pending:
            for up in graph.tasks[pending.pop()].upstream:
                if up in graph.tasks and up not in found:
                    found.add(up)
                    pending.append(up)
    return found


def lock_run_for_change(session: Session, dag_id: str, run_id: str, now: dt.datetime) -> DagRun:
    """Lock the run (as every scheduling pass does) or raise :class:`DagRunNotFound`."""
    run = lock_run_by_key(session, dag_id, run_id, now)
    if run is None:
        raise DagRunNotFound(f"DAG {dag_id!r} has no run {run_id!r}")
    return run


def affected_instances(
    session: Session,
    run: DagRun,
    task_ids: Collection[str] | None,
    *,
    map_indexes: Collection[int] | None = None,
    states: Collection[TIS | None] | None = None,
) -> list[AffectedTask]:
    """The run's task instances of ``task_ids`` (all when None), in task order."""
    query = select(
        TaskInstance.id, TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state
    ).where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
    if map_indexes is not None:
        query = query.where(TaskInstance.map_index.in_(sorted(map_indexes)))
    rows = session.execute(query.order_by(TaskInstance.task_id, TaskInstance.map_index)).all()
    return [
        AffectedTask(id=r.id, task_id=r.task_id, map_index=r.map_index, state=r.state)
        for r in rows
        if (task_ids is None or r.task_id in task_ids) and (states is None or r.state in states)
    ]


def clear_task_instances(
    session: Session,
    dag_id: str,
    run_id: str,
    dag_cache: DagCache,
    now: dt.datetime,
    *,
    task_ids: Collection[str] | None = None,
    map_indexes: Collection[int] | None = None,
    upstream: bool = False,
    downstream: bool = False,
    only_failed: bool = False,
    dry_run: bool = False,
) -> RunChange:
    """Clear task instances of one run (every task when ``task_ids`` is None); the caller commits.

    ``dry_run`` answers what would be cleared without changing anything. Call
    :func:`~airlock.scheduling.schedule_run` afterwards in the same transaction to queue the
    cleared tasks at once.
    """
    run = lock_run_for_change(session, dag_id, run_id, now)
    graph = dag_cache.graph(session, run.dag_version_id)
    wanted = (
        None
        if task_ids is None
        else related_tasks(graph, task_ids, upstream=upstream, downstream=downstream)
    )
    affected = affected_instances(
        session,
        run,
        wanted,
        map_indexes=map_indexes,
        states=FAILED_STATES if only_failed else None,
    )
    if dry_run or not affected:
        return RunChange(run=run, task_instances=tuple(affected), run_state=run.state)
    by_retries: dict[int, list[str]] = defaultdict(list)
    for ti in affected:
        task = graph.tasks.get(ti.task_id)
        by_retries[task.retries if task else 0].append(ti.id)
    for retries, ids in by_retries.items():
        for start in range(0, len(ids), CHUNK):
            session.execute(
                update(TaskInstance)
                .where(TaskInstance.id.in_(ids[start : start + CHUNK]))
                .values(
                    state=None,
                    max_tries=TaskInstance.try_number + retries,
                    next_retry_at=None,
                    next_method=None,
                    next_kwargs=None,
                    first_poke_at=None,
                    **TASK_CLAIM.release_values(),
                    queued_at=None,
                    end_date=None,
                    duration=None,
                )
                .execution_options(synchronize_session=False)
            )
    _discard_task_state(session, dag_id, run_id, affected)
    reopen_run(session, run, now)
    return RunChange(run=run, task_instances=tuple(affected), run_state=run.state)


def _discard_task_state(
    session: Session, dag_id: str, run_id: str, affected: Sequence[AffectedTask]
) -> None:
    """A cleared task instance starts afresh: its state store goes (as Airflow's clear does);
    retries, which are not clears, keep it."""
    pairs = [(ti.task_id, ti.map_index) for ti in affected]
    for start in range(0, len(pairs), CHUNK):
        session.execute(
            delete(TaskState)
            .where(
                TaskState.dag_id == dag_id,
                TaskState.run_id == run_id,
                tuple_(TaskState.task_id, TaskState.map_index).in_(pairs[start : start + CHUNK]),
            )
            .execution_options(synchronize_session=False)
        )


def reopen_run(
    session: Session, run: DagRun, now: dt.datetime, state: DagRunState = DagRunState.QUEUED
) -> None:
    """Move a finished run back to ``state`` (queued or running) so the scheduler decides it
    again; a run still queued or running is left alone."""
    if run.state not in TERMINAL_DAG_RUN_STATES:
        return
    values: dict[str, object] = {"state": state, "end_date": None}
    if state is DagRunState.QUEUED:
        values.update(queued_at=now, start_date=None)
    if transition(session, DagRun, {"id": run.id}, list(TERMINAL_DAG_RUN_STATES), values):
        session.refresh(run)
