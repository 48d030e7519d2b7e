"""Callbacks the user's DAG asked for, queued as ``callback_request`` rows (DESIGN §4.4).

The control plane never runs user code: when a run or a task ends in a state whose callback the
DAG defines (``has_on_*_callback`` in the serialized DAG), a row is inserted in the same
transaction as the state change, and the callback processor leases and runs it. Because the state
change is conditional, the row is inserted exactly once per change.

Kinds: ``dag_success``, ``dag_failure``, ``task_execute`` (the task started), ``task_success``,
``task_failure`` (no retry left), ``task_retry``, ``task_skipped``. A state a person sets through
the Web API queues the same callbacks (:mod:`airlock.scheduling.marking`). The payload carries what a callback's context needs beyond the keys of the row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from airlock.db import CallbackRequest, Dag
from airlock.models.dag import SerializedDag, SerializedTask
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling.dag_cache import DagCache
from airlock.scheduling.errors import DagVersionNotFound, TaskNotInDag

DAG_SUCCESS = "dag_success"
DAG_FAILURE = "dag_failure"
TASK_SUCCESS = "task_success"
TASK_FAILURE = "task_failure"
TASK_RETRY = "task_retry"
TASK_SKIPPED = "task_skipped"
TASK_EXECUTE = "task_execute"


def bundle_of(session: Session, dag_id: str) -> str:
    return session.scalar(select(Dag.bundle_name).where(Dag.dag_id == dag_id)) or ""


def queue_dag_callback(
    session: Session,
    dag: SerializedDag,
    *,
    dag_id: str,
    run_id: str,
    dag_version_id: int,
    state: DagRunState,
    reason: str,
    now: dt.datetime,
) -> bool:
    """Insert the run's success/failure callback if the DAG has one; whether it did."""
    wanted = (
        dag.has_on_success_callback if state is DagRunState.SUCCESS else dag.has_on_failure_callback
    )
    if not wanted:
        return False
    session.execute(
        insert(CallbackRequest).values(
            kind=DAG_SUCCESS if state is DagRunState.SUCCESS else DAG_FAILURE,
            bundle_name=bundle_of(session, dag_id),
            dag_id=dag_id,
            run_id=run_id,
            dag_version_id=dag_version_id,
            payload={"state": state.value, "reason": reason},
            created_at=now,
        )
    )
    return True


_TASK_KINDS: dict[TIS, tuple[str, str]] = {
    TIS.SUCCESS: (TASK_SUCCESS, "has_on_success_callback"),
    TIS.FAILED: (TASK_FAILURE, "has_on_failure_callback"),
    TIS.UP_FOR_RETRY: (TASK_RETRY, "has_on_retry_callback"),
    TIS.SKIPPED: (TASK_SKIPPED, "has_on_skipped_callback"),
    TIS.RUNNING: (TASK_EXECUTE, "has_on_execute_callback"),
}


def queue_task_callback(
    session: Session,
    task: SerializedTask,
    *,
    dag_id: str,
    run_id: str,
    map_index: int,
    try_number: int | None,
    dag_version_id: int,
    state: TIS,
    now: dt.datetime,
    error: str | None = None,
) -> bool:
    """Insert the task's callback for ``state`` (``running``: its execute callback) if the task
    has one; whether it did."""
    kind_and_flag = _TASK_KINDS.get(state)
    if kind_and_flag is None or not getattr(task, kind_and_flag[1]):
        return False
    payload: dict[str, Any] = {"state": state.value}
    if error is not None:
        payload["error"] = error
    session.execute(
        insert(CallbackRequest).values(
            kind=kind_and_flag[0],
            bundle_name=bundle_of(session, dag_id),
            dag_id=dag_id,
            run_id=run_id,
            task_id=task.task_id,
            map_index=map_index,
            try_number=try_number,
            dag_version_id=dag_version_id,
            payload=payload,
            created_at=now,
        )
    )
    return True


def queue_execute_callback(
    session: Session,
    dag_cache: DagCache,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int,
    try_number: int,
    dag_version_id: int,
    now: dt.datetime,
) -> bool:
    """Insert the execute callback of a task instance that just started, if its task has one
    (a DAG version that cannot be read has none to give); whether it did."""
    try:
        task = dag_cache.task(session, dag_version_id, task_id)
    except (DagVersionNotFound, TaskNotInDag):
        return False
    if not task.has_on_execute_callback:
        return False
    return queue_task_callback(
        session,
        task,
        dag_id=dag_id,
        run_id=run_id,
        map_index=map_index,
        try_number=try_number,
        dag_version_id=dag_version_id,
        state=TIS.RUNNING,
        now=now,
    )
