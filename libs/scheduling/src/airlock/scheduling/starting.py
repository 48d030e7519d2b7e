"""Moving task instances from ``queued`` to ``running``: what the Execution API's ``PATCH …/run``
does for one task (:func:`start_task`), and what the hand-out does for the tasks a worker asks to
start as it takes them (:func:`start_many`: one statement for the batch, no start call per task).

Either way the start is a conditional update (only a ``queued`` or ``restarting`` instance
starts), counts the try as :mod:`airlock.scheduling.tries` says (a task resuming after a deferral
or a reschedule continues its try), and a new try after the first starts without the XComs an
earlier try pushed.

A task started by the hand-out keeps its claim (``claimed_by``/``claimed_at``) until its runner
confirms it received it (its first heartbeat, :mod:`airlock.scheduling.heartbeats`): until then it
is an unconfirmed start, which goes back to the queue if the confirmation does not come. A runner
that starts its task itself has received it: :func:`start_task` drops the claim.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, update

from airlock.models.states import TaskInstanceState
from airlock.scheduling.leases import TASK_CLAIM
from airlock.scheduling.tables import TI, XCOM, AnyRow, one_of
from airlock.scheduling.tries import forgets_earlier_try_of, next_try_number

#: States a runner may start from: queued, or restarting after a clear while it ran.
STARTABLE = (TaskInstanceState.QUEUED, TaskInstanceState.RESTARTING)

#: What a start sets (``hostname``, ``pid``, ``start_date`` and ``now`` bound at execution).
START_VALUES: dict[str, Any] = {
    "state": TaskInstanceState.RUNNING,
    "try_number": next_try_number(TI),
    "hostname": bindparam("hostname"),
    "pid": bindparam("pid"),
    "start_date": bindparam("start_date"),
    "end_date": None,
    "duration": None,
    "last_heartbeat_at": bindparam("now"),
    # (a new try has no reason of the control plane's yet)
    "state_reason": None,
}
#: What the reply (the run context) and the XCom reset need of a started instance.
STARTED = (
    TI.c.id,
    TI.c.dag_id,
    TI.c.run_id,
    TI.c.task_id,
    TI.c.map_index,
    TI.c.try_number,
    TI.c.max_tries,
    TI.c.first_poke_at,
    TI.c.next_method,
    TI.c.next_kwargs,
)
_START_ONE = (
    update(TI)
    .where(TI.c.id == bindparam("ti_id"), one_of(TI.c.state, STARTABLE))
    .values({**START_VALUES, **TASK_CLAIM.release_values()})
    .returning(*STARTED)
)
_START_MANY = (
    update(TI)
    .where(TI.c.id.in_(bindparam("ids", expanding=True)), one_of(TI.c.state, STARTABLE))
    .values(START_VALUES)
    .returning(*STARTED)
)
_DELETE_XCOMS = delete(XCOM).where(
    XCOM.c.dag_id == bindparam("dag_id"),
    XCOM.c.run_id == bindparam("run_id"),
    XCOM.c.task_id == bindparam("task_id"),
    XCOM.c.map_index == bindparam("map_index"),
)


def start_task(
    connection: Connection,
    ti_id: str,
    hostname: str,
    pid: int,
    start_date: dt.datetime,
    now: dt.datetime,
) -> AnyRow | None:
    """Start ``ti_id`` if it is startable, under ``hostname`` and ``pid``; the started row
    (columns of :data:`STARTED`), or None if it was not startable."""
    started = connection.execute(
        _START_ONE,
        {"ti_id": ti_id, "hostname": hostname, "pid": pid, "start_date": start_date, "now": now},
    ).one_or_none()
    if started is not None:
        _forget_earlier_try(connection, started)
    return started


def start_many(
    connection: Connection, ids: Sequence[str], hostname: str, pid: int, now: dt.datetime
) -> dict[str, AnyRow]:
    """Start the instances ``ids`` that are still startable, under ``hostname`` and ``pid``;
    the started ones by id (columns of :data:`STARTED`)."""
    if not ids:
        return {}
    rows = connection.execute(
        _START_MANY,
        {"ids": list(ids), "hostname": hostname, "pid": pid, "start_date": now, "now": now},
    ).all()
    for row in rows:
        _forget_earlier_try(connection, row)
    return {row.id: row for row in rows}


def _forget_earlier_try(connection: Connection, started: AnyRow) -> None:
    if forgets_earlier_try_of(started):
        connection.execute(
            _DELETE_XCOMS,
            {
                "dag_id": started.dag_id,
                "run_id": started.run_id,
                "task_id": started.task_id,
                "map_index": started.map_index,
            },
        )
