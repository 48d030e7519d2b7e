"""When a DAG run is over, and whether it succeeded — Airflow's rules.

- A run ends when every task instance is finished (success, failed, upstream_failed, skipped,
  removed). It failed if one of its *effective leaves* failed or is upstream_failed, and succeeded
  otherwise (:attr:`~airlock.scheduling.graph.DagGraph.effective_leaves`: teardowns that are not
  ``on_failure_fail_dagrun`` don't count; their upstream tasks count in their place).
- A run whose unfinished instances can never move (none scheduled, queued, running, waiting for a
  retry or reschedule, or deferred) is deadlocked and fails.
- A run that outlives the DAG's ``dagrun_timeout`` fails; its unfinished instances are skipped.

Ending the run is a conditional update, so the DAG's success/failure callback row is inserted
exactly once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from airlock.db import DagRun, TaskInstance, transition
from airlock.models.states import TERMINAL_TASK_STATES, DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import telemetry
from airlock.scheduling.assets import record_completion_event
from airlock.scheduling.callbacks import queue_dag_callback
from airlock.scheduling.deadlines import cancel_deadlines
from airlock.scheduling.graph import DagGraph
from airlock.scheduling.locking import LockedRun
from airlock.scheduling.ti_rows import TiRow

log = logging.getLogger(__name__)

#: Unfinished states from which an instance still moves without the scheduler's help.
PROGRESSING_STATES = frozenset(
    {
        TIS.SCHEDULED,
        TIS.QUEUED,
        TIS.RUNNING,
        TIS.UP_FOR_RETRY,
        TIS.UP_FOR_RESCHEDULE,
        TIS.DEFERRED,
        TIS.RESTARTING,
    }
)
_FAILED = (TIS.FAILED, TIS.UPSTREAM_FAILED)
UNFINISHED_STATES = [
    None,
    TIS.SCHEDULED,
    TIS.QUEUED,
    TIS.RUNNING,
    TIS.UP_FOR_RETRY,
    TIS.UP_FOR_RESCHEDULE,
    TIS.DEFERRED,
    TIS.RESTARTING,
]


def decide_run_state(graph: DagGraph, rows: Sequence[TiRow]) -> tuple[DagRunState, str] | None:
    """The state a running run should end in, with the reason; ``None`` while it goes on."""
    unfinished = [row for row in rows if row.state not in TERMINAL_TASK_STATES]
    if not unfinished:
        leaves = graph.effective_leaves
        if any(row.task_id in leaves and row.state in _FAILED for row in rows):
            return DagRunState.FAILED, "task_failure"
        return DagRunState.SUCCESS, "success"
    if not any(row.state in PROGRESSING_STATES for row in unfinished):
        stuck = sorted({row.task_id for row in unfinished})
        log.warning("run deadlocked: tasks %s can never run", stuck)
        return DagRunState.FAILED, "deadlock"
    return None


def timed_out(graph: DagGraph, run: DagRun | LockedRun, now: dt.datetime) -> bool:
    timeout = graph.dag.dagrun_timeout
    if not timeout or run.state is not DagRunState.RUNNING or run.start_date is None:
        return False
    return now - run.start_date > dt.timedelta(seconds=timeout)


def skip_unfinished(session: Session, run: DagRun, now: dt.datetime) -> None:
    """Skip every unfinished task instance of ``run`` (a run that timed out)."""
    session.execute(
        update(TaskInstance)
        .where(
            TaskInstance.dag_id == run.dag_id,
            TaskInstance.run_id == run.run_id,
            TaskInstance.state.in_([s for s in UNFINISHED_STATES if s is not None])
            | TaskInstance.state.is_(None),
        )
        .values(state=TIS.SKIPPED, end_date=now)
        .execution_options(synchronize_session=False)
    )


def end_run(
    session: Session,
    run: DagRun,
    graph: DagGraph,
    state: DagRunState,
    reason: str,
    now: dt.datetime,
) -> bool:
    """Move ``run`` from running to ``state`` and queue its callback; whether it moved."""
    moved = transition(
        session, DagRun, {"id": run.id}, DagRunState.RUNNING, {"state": state, "end_date": now}
    )
    if not moved:
        return False
    set_committed_value(run, "state", state)
    set_committed_value(run, "end_date", now)
    log.info("run %s of %s ended %s (%s)", run.run_id, run.dag_id, state.value, reason)
    telemetry.run_ended(session, run, state, now)
    if graph.dag.deadlines:
        cancel_deadlines(session, run.dag_id, run.run_id)
    record_completion_event(session, run.dag_id, run.run_id, state.value, now)
    queue_dag_callback(
        session,
        graph.dag,
        dag_id=run.dag_id,
        run_id=run.run_id,
        dag_version_id=run.dag_version_id,
        state=state,
        reason=reason,
        now=now,
    )
    return True
