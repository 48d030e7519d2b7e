"""A running task's heartbeat: the proof that its runner is alive, checked by the zombie check
(:func:`airlock.scheduling.fail_zombies`).

A heartbeat lands only on the try it names (:mod:`airlock.scheduling.tries`), running under the
runner that sends it (either of its pids: the hand-out records the supervisor's until the task's
own first heartbeat names it). A runner of an earlier try — cleared and started again, maybe by
the same supervisor under the same pid — cannot keep the new try alive.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, bindparam, update

from airlock.models.states import TaskInstanceState
from airlock.models.task_try import TaskTry
from airlock.scheduling.tables import TI
from airlock.scheduling.tries import on_try

#: Still running under this runner (named by either of its pids), and alive now.
_BEAT = (
    update(TI)
    .where(
        TI.c.id == bindparam("ti_id"),
        TI.c.state == TaskInstanceState.RUNNING,
        TI.c.hostname == bindparam("b_hostname"),
        TI.c.pid.in_([bindparam("b_pid"), bindparam("b_task_pid")]),
    )
    .values(last_heartbeat_at=bindparam("now"), pid=bindparam("b_task_pid"))
)
_BEAT_OF_TRY = _BEAT.where(on_try(TI, bindparam("b_try_number")))


def record_heartbeat(
    connection: Connection,
    of: TaskTry,
    hostname: str,
    pid: int,
    task_pid: int,
    now: dt.datetime,
) -> bool:
    """Record that try ``of`` is alive under ``hostname`` and ``pid``/``task_pid`` (``task_pid``
    becomes the recorded pid); False if it no longer runs there."""
    params = {
        "ti_id": of.ti_id,
        "b_hostname": hostname,
        "b_pid": pid,
        "b_task_pid": task_pid,
        "b_try_number": of.try_number,
        "now": now,
    }
    statement = _BEAT if of.try_number is None else _BEAT_OF_TRY
    return connection.execute(statement, params).rowcount > 0
