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
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy import ColumnElement, bindparam, case, delete, update
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of
from airlock.db import TaskInstance, transition
from airlock.execution.access import own_task_instance
from airlock.execution.dag_runs import dag_run_info, triggering_asset_events
from airlock.execution.tables import RUN_INFO, TI, XCOM, AnyRow, one_of
from airlock.execution.task_tokens import TaskTokens
from airlock.execution.timestamps import aware
from airlock.models.execution import (
    Heartbeat,
    HeartbeatReply,
    TaskOutcome,
    TaskRunContext,
    TaskStart,
    TaskStateReply,
)
from airlock.models.states import TaskInstanceState
from airlock.scheduling import DagCache, StateConflict, TaskInstanceNotFound, finish_task

#: States a runner may start from: queued, or restarting after a clear while it ran.
STARTABLE = (TaskInstanceState.QUEUED, TaskInstanceState.RESTARTING)


def continues_try(ti: TaskInstance | AnyRow) -> bool:
    """Whether starting ``ti`` continues its current try rather than beginning a new one: it
    resumes after a deferral (``next_method``) or a reschedule-mode sensor pokes again
    (``first_poke_at``); ``airlock.scheduling.finish_task`` leaves those set for this."""
    return ti.try_number > 0 and (ti.next_method is not None or ti.first_poke_at is not None)


def _next_try_number() -> ColumnElement[int]:
    """The try a start runs, as :func:`continues_try` decides, in SQL for the conditional update."""
    continues = (TI.c.try_number > 0) & (
        TI.c.next_method.is_not(None) | TI.c.first_poke_at.is_not(None)
    )
    return case((continues, TI.c.try_number), else_=TI.c.try_number + 1)


#: queued (or restarting) → running, counting the try; what the reply and the XCom reset need.
_START = (
    update(TI)
    .where(TI.c.id == bindparam("ti_id"), one_of(TI.c.state, STARTABLE))
    .values(
        state=TaskInstanceState.RUNNING,
        try_number=_next_try_number(),
        hostname=bindparam("hostname"),
        pid=bindparam("pid"),
        start_date=bindparam("start_date"),
        end_date=None,
        duration=None,
        last_heartbeat_at=bindparam("now"),
    )
    .returning(
        TI.c.dag_id,
        TI.c.run_id,
        TI.c.task_id,
        TI.c.map_index,
        TI.c.try_number,
        TI.c.max_tries,
        TI.c.first_poke_at,
        TI.c.next_method,
    )
)
_DELETE_XCOMS = delete(XCOM).where(
    XCOM.c.dag_id == bindparam("dag_id"),
    XCOM.c.run_id == bindparam("run_id"),
    XCOM.c.task_id == bindparam("task_id"),
    XCOM.c.map_index == bindparam("map_index"),
)


def _load(session: Session, ti_id: str) -> TaskInstance:
    ti = session.get(TaskInstance, ti_id, populate_existing=True)
    if ti is None:
        raise Problem(
            404, f"task instance {ti_id} does not exist (it was deleted)", slug="ti-not-found"
        )
    return ti


class TaskInstanceController(Controller):
    path = "/task-instances/{ti_id:str}"
    tags = ["task instances"]
    guards = [own_task_instance]

    @patch("/run", operation_id="StartTaskInstance", sync_to_thread=True)
    def run(
        self, ti_id: FromPath[str], data: JSONBody[TaskStart], session: NamedDependency[Session]
    ) -> TaskRunContext:
        """Move the task from queued to running and count the try (``try_number`` counts tries
        started; a task resuming after a deferral or a reschedule continues its try).

        Sent again by the same process (same hostname and pid) once it runs, it answers the same
        without counting another try; from anywhere else, or in any other state, it is a 409.
        """
        start_date = aware(data.start_date, "start_date")
        connection = session.connection()
        ti: TaskInstance | AnyRow | None = connection.execute(
            _START,
            {
                "ti_id": ti_id,
                "hostname": data.hostname,
                "pid": data.pid,
                "start_date": start_date,
                "now": dt.datetime.now(dt.UTC),
            },
        ).one_or_none()
        if ti is not None:
            if ti.next_method is None and ti.first_poke_at is None and ti.try_number > 1:
                # A new try starts from a clean slate; a resumed one keeps what it pushed so far.
                # (Only a try can push, so before a first try there is nothing to delete.)
                connection.execute(
                    _DELETE_XCOMS,
                    {
                        "dag_id": ti.dag_id,
                        "run_id": ti.run_id,
                        "task_id": ti.task_id,
                        "map_index": ti.map_index,
                    },
                )
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
        events = triggering_asset_events(session, run)
        session.commit()
        return TaskRunContext(
            dag_run=dag_run_info(run),
            try_number=ti.try_number,
            max_tries=ti.max_tries,
            first_poke_at=ti.first_poke_at,
            should_retry=ti.try_number <= ti.max_tries,
            triggering_asset_events=events,
        )

    @put("/heartbeat", operation_id="HeartbeatTaskInstance", sync_to_thread=True)
    def heartbeat(
        self,
        request: Request[Any, Any, Any],
        ti_id: FromPath[str],
        data: JSONBody[Heartbeat],
        session: NamedDependency[Session],
        state: State,
    ) -> HeartbeatReply:
        """Record that the task is alive; tell the runner to stop when the task is no longer
        running under it (cleared, failed by the scheduler, or started by another process)."""
        now = dt.datetime.now(dt.UTC)
        alive = transition(
            session,
            TaskInstance,
            {"id": ti_id, "hostname": data.hostname, "pid": data.pid},
            TaskInstanceState.RUNNING,
            {"last_heartbeat_at": now},
        )
        if alive:
            session.commit()
            tokens: TaskTokens = state["task_tokens"]
            return HeartbeatReply(
                keep_running=True,
                state=TaskInstanceState.RUNNING,
                token=tokens.refresh(claims_of(request)),
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
        session: NamedDependency[Session],
        state: State,
    ) -> TaskStateReply:
        """Apply the runner's final word and queue what it unblocks, in one transaction.

        The same report sent again answers the state the first one produced; any other report
        for a task that is no longer running is a 409 naming its current state. Waiting workload
        polls wake when the commit makes the queued tasks visible (``airlock.scheduling`` queue
        listeners, see :mod:`airlock.execution.notifier`).
        """
        _check_outcome(data)
        cache: DagCache = state["dag_cache"]
        try:
            ended = finish_task(
                session,
                ti_id,
                data,
                cache,
                dt.datetime.now(dt.UTC),
                try_number=claims_of(request).try_number,
            )
            session.commit()
        except StateConflict as exc:
            session.rollback()
            raise Problem(
                409, str(exc), slug="ti-state-conflict", extra={"current_state": exc.current}
            ) from None
        except TaskInstanceNotFound as exc:
            session.rollback()
            raise Problem(404, str(exc), slug="ti-not-found") from None
        return TaskStateReply(state=ended)


def _check_outcome(outcome: TaskOutcome) -> None:
    for name in ("end_date", "reschedule_date"):
        aware(getattr(outcome, name, None), name)
