"""Moving task instances from ``queued`` to ``running``: what ``PATCH …/run`` does for one task,
and what the hand-out does for the tasks a worker asks to start as it takes them
(``WorkloadRequest.start``: one statement for the batch, and no start call per task).

Either way the start is a conditional update (only a ``queued`` or ``restarting`` instance
starts), counts the try (a task resuming after a deferral or a reschedule continues its try), and
a new try after the first starts without the XComs an earlier try pushed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, case, delete, update
from sqlalchemy.orm import Session

from airlock.db import TaskInstance
from airlock.execution.dag_runs import dag_run_info, triggering_asset_events
from airlock.execution.tables import TI, XCOM, AnyRow, one_of
from airlock.models.execution import TaskRunContext
from airlock.models.states import TaskInstanceState

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


#: What a start sets (``hostname``, ``pid``, ``start_date`` and ``now`` bound at execution).
START_VALUES: dict[str, Any] = {
    "state": TaskInstanceState.RUNNING,
    "try_number": _next_try_number(),
    "hostname": bindparam("hostname"),
    "pid": bindparam("pid"),
    "start_date": bindparam("start_date"),
    "end_date": None,
    "duration": None,
    "last_heartbeat_at": bindparam("now"),
}
#: What the reply (the run context) and the XCom reset need of a started instance.
_STARTED = (
    TI.c.id,
    TI.c.dag_id,
    TI.c.run_id,
    TI.c.task_id,
    TI.c.map_index,
    TI.c.try_number,
    TI.c.max_tries,
    TI.c.first_poke_at,
    TI.c.next_method,
)
START_ONE = (
    update(TI)
    .where(TI.c.id == bindparam("ti_id"), one_of(TI.c.state, STARTABLE))
    .values(START_VALUES)
    .returning(*_STARTED)
)
_START_MANY = (
    update(TI)
    .where(TI.c.id.in_(bindparam("ids", expanding=True)), one_of(TI.c.state, STARTABLE))
    .values(START_VALUES)
    .returning(*_STARTED)
)
_DELETE_XCOMS = delete(XCOM).where(
    XCOM.c.dag_id == bindparam("dag_id"),
    XCOM.c.run_id == bindparam("run_id"),
    XCOM.c.task_id == bindparam("task_id"),
    XCOM.c.map_index == bindparam("map_index"),
)


def start_many(
    connection: Connection, ids: Sequence[str], hostname: str, pid: int, now: dt.datetime
) -> dict[str, AnyRow]:
    """Start the instances ``ids`` that are still startable, under ``hostname`` and ``pid``;
    the started ones by id (columns of :data:`_STARTED`)."""
    if not ids:
        return {}
    rows = connection.execute(
        _START_MANY,
        {"ids": list(ids), "hostname": hostname, "pid": pid, "start_date": now, "now": now},
    ).all()
    for row in rows:
        forget_earlier_try(connection, row)
    return {row.id: row for row in rows}


def forget_earlier_try(connection: Connection, started: TaskInstance | AnyRow) -> None:
    """A new try starts from a clean slate; a resumed one keeps what it pushed so far. (Only a
    try can push, so before a second try there is nothing to delete.)"""
    if started.next_method is None and started.first_poke_at is None and started.try_number > 1:
        connection.execute(
            _DELETE_XCOMS,
            {
                "dag_id": started.dag_id,
                "run_id": started.run_id,
                "task_id": started.task_id,
                "map_index": started.map_index,
            },
        )


def run_context(session: Session, started: TaskInstance | AnyRow, run: AnyRow) -> TaskRunContext:
    """What the runner of a started instance needs: its try and its run (``run``: a row of
    ``tables.RUN_INFO_COLUMNS``)."""
    return TaskRunContext(
        dag_run=dag_run_info(run),
        try_number=started.try_number,
        max_tries=started.max_tries,
        first_poke_at=started.first_poke_at,
        should_retry=started.try_number <= started.max_tries,
        triggering_asset_events=triggering_asset_events(session, run),
    )
