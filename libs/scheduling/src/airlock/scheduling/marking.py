"""Marking: people set a task instance's or a whole run's outcome by hand (Airflow's "mark
success / failed").

Marking task instances sets their state (``success``, ``failed`` or ``skipped``) whatever it was,
ends their try's dates and drops resume data and claims; a running instance's runner is told to
stop on its next heartbeat and its own final report is refused. The run, if it had ended, goes
back to ``running``, so the next scheduling pass decides it again from the new states (marking a
failed leaf ``success`` makes a failed run succeed; tasks left without a state after it run).

Marking a run, as Airflow does:

- ``success``: every task instance not yet successful becomes ``success``, and the run
  ``success``;
- ``failed``: running (or deferred, or waiting for a reschedule) instances become ``failed``,
  the others that had not finished become ``skipped``, and the run ``failed``.

A state set by hand queues the callbacks the same state set by a worker or the scheduler would:
a task instance marked ``failed`` gets its failure callback (no retry follows a mark), one marked
``success`` or ``skipped`` its success or skipped callback, and a run marked ``success`` or
``failed`` its DAG's callback, each in the same transaction as the mark. The caller commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from sqlalchemy import func, literal, update
from sqlalchemy.orm import Session

from airlock.db import DagRun, TaskInstance
from airlock.models.states import TERMINAL_TASK_STATES, DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling.assets import record_completion_event
from airlock.scheduling.callbacks import queue_dag_callback, queue_task_callback
from airlock.scheduling.clearing import (
    AffectedTask,
    RunChange,
    affected_instances,
    lock_run_for_change,
    related_tasks,
    reopen_run,
)
from airlock.scheduling.dag_cache import DagCache
from airlock.scheduling.deadlines import cancel_deadlines
from airlock.scheduling.graph import DagGraph
from airlock.scheduling.leases import TASK_CLAIM
from airlock.scheduling.ti_rows import CHUNK

#: The states a person may give a task instance.
MARKABLE_TASK_STATES = (TIS.SUCCESS, TIS.FAILED, TIS.SKIPPED)
#: The states a person may give a run.
MARKABLE_RUN_STATES = (DagRunState.SUCCESS, DagRunState.FAILED)
#: Unfinished states in which a task may be doing work right now (marked failed, not skipped).
_ACTIVE = (TIS.RUNNING, TIS.DEFERRED, TIS.UP_FOR_RESCHEDULE, TIS.RESTARTING)


def mark_task_instances(
    session: Session,
    dag_id: str,
    run_id: str,
    state: TIS | str,
    dag_cache: DagCache,
    now: dt.datetime,
    *,
    task_ids: Collection[str],
    map_indexes: Collection[int] | None = None,
    upstream: bool = False,
    downstream: bool = False,
    dry_run: bool = False,
) -> RunChange:
    """Set ``state`` on task instances of one run (and, on request, of their up/downstream
    tasks); instances already in ``state`` are left alone. Call
    :func:`~airlock.scheduling.schedule_run` afterwards to let the run react at once."""
    state = TIS(state)
    if state not in MARKABLE_TASK_STATES:
        allowed = ", ".join(s.value for s in MARKABLE_TASK_STATES)
        raise ValueError(f"a task instance can be marked {allowed}, not {state.value!r}")
    run = lock_run_for_change(session, dag_id, run_id, now)
    graph = dag_cache.graph(session, run.dag_version_id)
    wanted = related_tasks(graph, task_ids, upstream=upstream, downstream=downstream)
    others = [s for s in TIS if s is not state]
    affected = affected_instances(
        session, run, wanted, map_indexes=map_indexes, states=[None, *others]
    )
    if dry_run or not affected:
        return RunChange(run=run, task_instances=tuple(affected), run_state=run.state)
    _set_state(session, [ti.id for ti in affected], state, now)
    _queue_callbacks(session, run, graph, affected, state, now)
    reopen_run(session, run, now, DagRunState.RUNNING)
    return RunChange(run=run, task_instances=tuple(affected), run_state=run.state)


def mark_run(
    session: Session,
    dag_id: str,
    run_id: str,
    state: DagRunState | str,
    now: dt.datetime,
    dag_cache: DagCache | None = None,
) -> RunChange:
    """Set a run's state by hand (``success`` or ``failed``) and settle its task instances;
    with ``dag_cache``, queue the callbacks of the run and of the instances it settled."""
    state = DagRunState(state)
    if state not in MARKABLE_RUN_STATES:
        allowed = ", ".join(s.value for s in MARKABLE_RUN_STATES)
        raise ValueError(f"a DAG run can be marked {allowed}, not {state.value!r}")
    run = lock_run_for_change(session, dag_id, run_id, now)
    graph = None if dag_cache is None else dag_cache.graph(session, run.dag_version_id)
    changed: list[AffectedTask] = []
    if state is DagRunState.SUCCESS:
        others = [None, *(s for s in TIS if s is not TIS.SUCCESS)]
        changed = affected_instances(session, run, None, states=others)
        _set_state(session, [ti.id for ti in changed], TIS.SUCCESS, now)
        _queue_callbacks(session, run, graph, changed, TIS.SUCCESS, now)
    else:
        unfinished = [None, *(s for s in TIS if s not in TERMINAL_TASK_STATES)]
        changed = affected_instances(session, run, None, states=unfinished)
        active = [ti for ti in changed if ti.state in _ACTIVE]
        rest = [ti for ti in changed if ti.state not in _ACTIVE]
        _set_state(session, [ti.id for ti in active], TIS.FAILED, now)
        _set_state(session, [ti.id for ti in rest], TIS.SKIPPED, now)
        _queue_callbacks(session, run, graph, active, TIS.FAILED, now)
        _queue_callbacks(session, run, graph, rest, TIS.SKIPPED, now)
    if run.state is not state:
        cancel_deadlines(session, run.dag_id, run.run_id)
        record_completion_event(session, run.dag_id, run.run_id, state.value, now)
        if graph is not None:
            queue_dag_callback(
                session,
                graph.dag,
                dag_id=run.dag_id,
                run_id=run.run_id,
                dag_version_id=run.dag_version_id,
                state=state,
                reason=f"marked {state.value} by hand",
                now=now,
            )
        values: dict[str, object] = {"state": state, "end_date": now}
        if run.start_date is None:
            values["start_date"] = now
        session.execute(
            update(DagRun)
            .where(DagRun.id == run.id)
            .values(values)
            .execution_options(synchronize_session=False)
        )
        session.refresh(run)
    return RunChange(run=run, task_instances=tuple(changed), run_state=run.state)


def _queue_callbacks(
    session: Session,
    run: DagRun,
    graph: DagGraph | None,
    instances: Sequence[AffectedTask],
    state: TIS,
    now: dt.datetime,
) -> None:
    if graph is None:
        return
    for ti in instances:
        task = graph.task(ti.task_id)
        if task is None:
            continue
        queue_task_callback(
            session,
            task,
            dag_id=run.dag_id,
            run_id=run.run_id,
            map_index=ti.map_index,
            try_number=None,
            dag_version_id=run.dag_version_id,
            state=state,
            now=now,
            error=f"marked {state.value} by hand" if state is TIS.FAILED else None,
        )


def _set_state(session: Session, ids: Sequence[str], state: TIS, now: dt.datetime) -> None:
    for start in range(0, len(ids), CHUNK):
        session.execute(
            update(TaskInstance)
            .where(TaskInstance.id.in_(ids[start : start + CHUNK]))
            .values(
                state=state,
                start_date=func.coalesce(
                    TaskInstance.start_date, literal(now, TaskInstance.start_date.type)
                ),
                end_date=now,
                next_retry_at=None,
                next_method=None,
                next_kwargs=None,
                first_poke_at=None,
                **TASK_CLAIM.release_values(),
            )
            .execution_options(synchronize_session=False)
        )
