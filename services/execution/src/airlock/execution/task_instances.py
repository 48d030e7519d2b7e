"""What a runner says about its own task instance: it started, it is alive, it ended
(DESIGN §4.2, §6).

Every state change here is a conditional update on the state the runner should find, so a call
retried after a lost response answers as the first one did, and a stale call (the task was
cleared, failed by the scheduler or finished already) gets 409 instead of moving the state twice.
The ``{ti_id}`` in the path must be the task token's subject (:func:`own_task_instance`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, patch, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of
from airlock.db import DagRun, LogChunk, TaskInstance
from airlock.execution.access import own_task_instance
from airlock.execution.dag_runs import dag_run_info, triggering_asset_events
from airlock.execution.tables import RUN_INFO, AnyRow
from airlock.execution.task_ends import TaskEnds
from airlock.execution.task_tokens import TaskTokens
from airlock.models.execution import (
    Heartbeat,
    HeartbeatReply,
    TaskOutcome,
    TaskRunContext,
    TaskStart,
    TaskStateReply,
)
from airlock.models.states import TaskInstanceState
from airlock.models.task_try import TaskTry
from airlock.scheduling import DagCache, StateConflict, TaskEnd, TaskInstanceNotFound
from airlock.scheduling.callbacks import queue_execute_callback
from airlock.scheduling.heartbeats import record_heartbeat
from airlock.scheduling.starting import start_task


def run_context(
    session: Session, started: TaskInstance | AnyRow, run: DagRun | AnyRow
) -> TaskRunContext:
    """What the runner of a started instance needs: its try and its run (``run``: a row of
    ``airlock.scheduling.tables.RUN_INFO_COLUMNS``)."""
    return TaskRunContext(
        dag_run=dag_run_info(run),
        try_number=started.try_number,
        max_tries=started.max_tries,
        first_poke_at=started.first_poke_at,
        should_retry=started.try_number <= started.max_tries,
        triggering_asset_events=triggering_asset_events(session, run),
        next_method=started.next_method,
        next_kwargs=started.next_kwargs if started.next_method else None,
        log_seq_start=_next_log_seq(session, started) if started.next_method else 0,
    )


def _next_log_seq(session: Session, started: TaskInstance | AnyRow) -> int:
    """Past the numbers of the log batches the try's earlier part sent (before it deferred)."""
    last = session.scalar(
        select(func.max(LogChunk.seq)).where(
            LogChunk.task_instance_id == started.id, LogChunk.try_number == started.try_number
        )
    )
    return 0 if last is None else last + 1


def _load(session: Session, ti_id: str) -> TaskInstance:
    ti = session.get(TaskInstance, ti_id, populate_existing=True)
    if ti is None:
        raise Problem(
            404, f"task instance {ti_id} does not exist (it was deleted)", slug="ti-not-found"
        )
    return ti


def _queue_execute_callback(session: Session, dag_cache: DagCache, started: AnyRow) -> None:
    dag_version_id = session.scalar(
        select(TaskInstance.dag_version_id).where(TaskInstance.id == started.id)
    )
    if dag_version_id is not None:
        queue_execute_callback(
            session,
            dag_cache,
            dag_id=started.dag_id,
            run_id=started.run_id,
            task_id=started.task_id,
            map_index=started.map_index,
            try_number=started.try_number,
            dag_version_id=dag_version_id,
            now=dt.datetime.now(dt.UTC),
        )


class TaskInstanceController(Controller):
    path = "/task-instances/{ti_id:str}"
    tags = ["task instances"]
    guards = [own_task_instance]

    @patch("/run", operation_id="StartTaskInstance", sync_to_thread=True)
    def run(
        self,
        ti_id: FromPath[str],
        data: JSONBody[TaskStart],
        session: NamedDependency[Session],
        dag_cache: NamedDependency[DagCache],
    ) -> TaskRunContext:
        """Move the task from queued to running and count the try (``try_number`` counts tries
        started; a task resuming after a deferral or a reschedule continues its try).

        Sent again by the same process (same hostname and pid) once it runs, it answers the same
        without counting another try; from anywhere else, or in any other state, it is a 409.
        """
        start_date = data.start_date
        connection = session.connection()
        started = start_task(
            connection, ti_id, data.hostname, data.pid, start_date, dt.datetime.now(dt.UTC)
        )
        ti: TaskInstance | AnyRow
        if started is not None:
            ti = started
            _queue_execute_callback(session, dag_cache, started)
        else:
            ti = _load(session, ti_id)
            same_runner = ti.hostname == data.hostname and ti.pid == data.pid
            if not (ti.state is TaskInstanceState.RUNNING and same_runner):
                session.rollback()
                elsewhere = (
                    f" by {ti.hostname} (pid {ti.pid})"
                    if ti.state is TaskInstanceState.RUNNING
                    else ""
                )
                raise Problem(
                    409,
                    f"task instance {ti_id} is {ti.state or 'without state'}{elsewhere}; only a "
                    "queued task can start",
                    slug="ti-not-queued",
                    extra={"current_state": ti.state},
                )
        run = connection.execute(RUN_INFO, {"dag_id": ti.dag_id, "run_id": ti.run_id}).one()
        context = run_context(session, ti, run)
        session.commit()
        return context

    @put("/heartbeat", operation_id="HeartbeatTaskInstance", sync_to_thread=True)
    def heartbeat(
        self,
        request: Request[Any, Any, Any],
        ti_id: FromPath[str],
        data: JSONBody[Heartbeat],
        session: NamedDependency[Session],
        task_tokens: NamedDependency[TaskTokens],
    ) -> HeartbeatReply:
        """Record that the task is alive; tell the runner to stop when the task is no longer
        running under it (cleared, failed by the scheduler, or started by another process).

        ``task_pid`` names the task's process when the hand-out started the task under its
        supervisor's pid: it becomes the task's recorded pid, and either pid is the runner's.
        The first heartbeat of a task the hand-out started confirms the hand-out its token names
        (``airlock.scheduling.heartbeats``); a runner sends it before the task's code runs.
        """
        task_pid = data.pid if data.task_pid is None else data.task_pid
        claims = claims_of(request)
        of = TaskTry(ti_id, claims.try_number)
        alive = record_heartbeat(
            session.connection(),
            of,
            data.hostname,
            data.pid,
            task_pid,
            dt.datetime.now(dt.UTC),
            claims.claim_epoch,
        )
        if alive:
            session.commit()
            return HeartbeatReply(
                keep_running=True,
                state=TaskInstanceState.RUNNING,
                token=task_tokens.refresh(claims),
            )
        ti = _load(session, ti_id)
        session.rollback()
        return HeartbeatReply(keep_running=False, state=ti.state)

    @patch("/state", operation_id="FinishTaskInstance", sync_to_thread=True)
    def finish(
        self,
        request: Request[Any, Any, Any],
        ti_id: FromPath[str],
        data: JSONBody[TaskOutcome],
        task_ends: NamedDependency[TaskEnds],
    ) -> TaskStateReply:
        """Apply the runner's final word and queue what it unblocks, in one transaction (with
        other ends of the same run that arrive meanwhile: :mod:`airlock.execution.task_ends`).

        The same report sent again answers the state the first one produced; any other report
        for a task that is no longer running is a 409 naming its current state. Waiting workload
        polls wake when the commit makes the queued tasks visible (``airlock.scheduling`` queue
        listeners, see :mod:`airlock.execution.notifier`).
        """
        claims = claims_of(request)
        if claims.dag_id is None or claims.run_id is None:
            raise Problem(
                403,
                "this task token does not name its DAG run; use one issued by this Airlock",
                slug="forbidden",
            )
        try:
            ended = task_ends.apply(
                (claims.dag_id, claims.run_id), TaskEnd(ti_id, data, claims.try_number)
            )
        except StateConflict as exc:
            raise Problem(
                409, str(exc), slug="ti-state-conflict", extra={"current_state": exc.current}
            ) from None
        except TaskInstanceNotFound as exc:
            raise Problem(404, str(exc), slug="ti-not-found") from None
        return TaskStateReply(state=ended)
