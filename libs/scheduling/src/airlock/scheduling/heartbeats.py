"""A running task's heartbeat: the proof that its runner is alive, checked by the zombie check
(:func:`airlock.scheduling.fail_zombies`).

A heartbeat lands only on the try it names (:mod:`airlock.scheduling.tries`), running under the
runner that sends it (either of its pids: the hand-out records the supervisor's until the task's
own first heartbeat names it). A runner of an earlier try — cleared and started again, maybe by
the same supervisor under the same pid — cannot keep the new try alive.

A heartbeat also confirms a hand-out (:mod:`airlock.scheduling.handout`): a task the hand-out
started stays unconfirmed (its claim still set) until its runner's first heartbeat, which drops
the claim; an unconfirmed start past its deadline goes back to the queue
(:func:`airlock.scheduling.housekeeping.return_unconfirmed`). A beat names the hand-out it confirms
(the claim epoch its task token carries): a runner of an earlier hand-out of the same try, whose
task went back to the queue and was handed out again, confirms nothing.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, bindparam, update

from airlock.models.states import TaskInstanceState
from airlock.models.task_try import TaskTry
from airlock.scheduling.leases import TASK_CLAIM
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
    .values(
        last_heartbeat_at=bindparam("now"),
        pid=bindparam("b_task_pid"),
        **TASK_CLAIM.release_values(),
    )
)
_BEAT_OF_TRY = _BEAT.where(on_try(TI, bindparam("b_try_number")))
#: Of the try, and of the hand-out named by the claim epoch.
_BEAT_OF_HANDOUT = _BEAT_OF_TRY.where(TASK_CLAIM.epoch == bindparam("b_epoch"))


def record_heartbeat(
    connection: Connection,
    of: TaskTry,
    hostname: str,
    pid: int,
    task_pid: int,
    now: dt.datetime,
    claim_epoch: int | None = None,
) -> bool:
    """Record that try ``of`` (handed out under ``claim_epoch``, if given) is alive under
    ``hostname`` and ``pid``/``task_pid`` (``task_pid`` becomes the recorded pid), which confirms
    its hand-out; False if it no longer runs there."""
    params = {
        "ti_id": of.ti_id,
        "b_hostname": hostname,
        "b_pid": pid,
        "b_task_pid": task_pid,
        "b_try_number": of.try_number,
        "now": now,
        "b_epoch": claim_epoch,
    }
    if of.try_number is None:
        statement = _BEAT
    else:
        statement = _BEAT_OF_TRY if claim_epoch is None else _BEAT_OF_HANDOUT
    return connection.execute(statement, params).rowcount > 0
