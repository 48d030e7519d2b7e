"""Triggers of deferred tasks: stored when a task defers, leased to triggerers, fired once.

- :func:`store_trigger`: a task that defers (``finish``) gets one trigger row (replacing the
  row of an earlier deferral); the worker slot is free as soon as the task is ``deferred``.
- :func:`lease_triggers`, :func:`heartbeat_triggers`, :func:`release_triggers`: a triggerer's
  leases, by the one lease helper (:data:`TRIGGER_LEASE`, an expiry stamp, a fencing epoch). A
  trigger is *live* while its task instance is ``deferred`` and it has not fired; a held trigger
  that is no longer live is *cancelled* (its holder runs ``cleanup()``, the row goes); one held
  under an older epoch, or whose row is gone, is *lost* (another triggerer runs or ended it:
  its old holder drops it quietly, without ``cleanup()``).
- :func:`fire_trigger`: an event or a failure resumes the task: **one conditional update**,
  ``deferred → scheduled`` with ``next_method`` / ``next_kwargs``, only for the trigger's holder
  under its epoch and only while the task waits for this trigger. However many copies of a
  trigger fire, the task resumes once; the same call repeated by the same holder answers as the
  first did; any other late call is a :class:`TriggerConflict` (409).
- :func:`time_out_triggers`: the scheduler resumes tasks whose trigger passed its ``timeout``
  with ``__fail__``, so they fail on a worker as Airflow's do.

The scheduler queues a resumed (``scheduled``) task like any other; the worker that starts it
finds ``next_method`` in its run context and calls it instead of ``execute`` (a resumed task
continues its try: ``airlock.scheduling.tries``). ``__succeed__`` / ``__fail__`` are the
methods that end the task at once for a ``TaskSuccessEvent`` / ``TaskFailedEvent`` or a failed
trigger.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Table,
    and_,
    delete,
    exists,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from airlock.db import Trigger
from airlock.models.execution import TaskDeferred
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import telemetry
from airlock.scheduling.errors import SchedulingError
from airlock.scheduling.leases import Held, LeasedTable, acquire, give_back, lease_params, sort_held
from airlock.scheduling.tables import DAG, TI

TRIGGER = cast(Table, Trigger.__table__)

#: A triggerer's lease on a trigger (``[triggerer] lease_s``).
TRIGGER_LEASE = LeasedTable(
    table=TRIGGER,
    holder=TRIGGER.c.triggerer,
    epoch=TRIGGER.c.lease_epoch,
    stamp=TRIGGER.c.lease_expires_at,
    stamp_is_expiry=True,
)

#: Rows per statement when a heartbeat renews many leases.
_CHUNK = 5000

#: Resume methods that end the task without running its code (the SDK's ``resume_execution``).
SUCCEED = "__succeed__"
FAIL = "__fail__"


class TriggerNotFound(SchedulingError, LookupError):
    """No trigger has that id (it was cancelled, or its task deferred again)."""


class TriggerConflict(SchedulingError):
    """The caller no longer holds the trigger, or its task no longer waits for it."""


class TriggerForbidden(SchedulingError):
    """The trigger belongs to a bundle the caller may not touch."""


@dataclass(frozen=True, slots=True)
class LeasedRow:
    """A leased trigger with what its triggerer needs to load and run it."""

    id: int
    epoch: int
    classpath: str
    kwargs: dict[str, Any]
    bundle: str
    dag_rel_path: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    ti_id: str
    try_number: int


def store_trigger(session: Session, ti_id: str, outcome: TaskDeferred, now: dt.datetime) -> None:
    """The trigger of a task instance that has just deferred (an earlier row of it goes)."""
    timeout_at = (
        None if outcome.timeout_s is None else now + dt.timedelta(seconds=outcome.timeout_s)
    )
    session.execute(delete(TRIGGER).where(TRIGGER.c.task_instance_id == ti_id))
    session.execute(
        insert(TRIGGER).values(
            task_instance_id=ti_id,
            classpath=outcome.trigger_classpath,
            kwargs=dict(outcome.trigger_kwargs),
            created_at=now,
            timeout_at=timeout_at,
            lease_epoch=0,
        )
    )


def _live() -> Any:
    """The trigger has not fired and its task instance waits for it."""
    return and_(
        TRIGGER.c.fired_at.is_(None),
        exists().where(TI.c.id == TRIGGER.c.task_instance_id, TI.c.state == TIS.DEFERRED),
    )


def _in_bundles(bundles: Sequence[str] | None) -> Sequence[Any]:
    if bundles is None:
        return ()
    return (
        exists().where(
            TI.c.id == TRIGGER.c.task_instance_id,
            DAG.c.dag_id == TI.c.dag_id,
            DAG.c.bundle_name.in_(list(bundles)),
        ),
    )


_DETAILS = (
    select(
        TRIGGER.c.id,
        TRIGGER.c.lease_epoch,
        TRIGGER.c.classpath,
        TRIGGER.c.kwargs,
        DAG.c.bundle_name,
        DAG.c.relative_fileloc,
        TI.c.dag_id,
        TI.c.run_id,
        TI.c.task_id,
        TI.c.map_index,
        TI.c.id.label("ti_id"),
        TI.c.try_number,
    )
    .join(TI, TI.c.id == TRIGGER.c.task_instance_id)
    .join(DAG, DAG.c.dag_id == TI.c.dag_id)
)


def lease_triggers(
    connection: Connection,
    holder: str,
    limit: int,
    now: dt.datetime,
    lease_s: float,
    *,
    bundles: Sequence[str] | None,
) -> list[LeasedRow]:
    """Lease up to ``limit`` live triggers of ``bundles`` (``None``: any) to ``holder``, oldest
    first; free ones and those whose lease ran out (a dead triggerer's)."""
    if limit <= 0:
        return []
    held = acquire(
        connection,
        TRIGGER_LEASE,
        holder,
        limit,
        now,
        lease_s,
        where=(_live(), *_in_bundles(bundles)),
        order_by=(TRIGGER.c.id,),
    )
    if not held:
        return []
    rows = connection.execute(_DETAILS.where(TRIGGER.c.id.in_([h.key for h in held])))
    return [
        LeasedRow(
            id=row.id,
            epoch=row.lease_epoch,
            classpath=row.classpath,
            kwargs=dict(row.kwargs or {}),
            bundle=row.bundle_name,
            dag_rel_path=row.relative_fileloc or "",
            dag_id=row.dag_id,
            run_id=row.run_id,
            task_id=row.task_id,
            map_index=row.map_index,
            ti_id=row.ti_id,
            try_number=row.try_number,
        )
        for row in rows
    ]


def heartbeat_triggers(
    connection: Connection, holder: str, held: Sequence[Held], now: dt.datetime, lease_s: float
) -> tuple[list[int], list[int]]:
    """Renew ``holder``'s leases; the ids it ``lost`` and those ``cancelled``.

    Lost: another holder took the trigger (a newer epoch), or its row is gone (whoever ended it
    cleaned up): stop without ``cleanup()``. Cancelled: still this holder's, but its task no
    longer waits for it (cleared, marked, timed out): stop, run ``cleanup()``; the row goes.
    """
    kept, lost = sort_held(
        connection, TRIGGER_LEASE, holder, held, columns=(_live().label("live"),)
    )
    cancelled = [row.id for row in kept if not row.live]
    renewed = [row.id for row in kept if row.live]
    # One statement per chunk, not one per trigger: a triggerer holds thousands.
    expires = lease_params(TRIGGER_LEASE, holder, now, lease_s)["lease_stamp"]
    for start in range(0, len(renewed), _CHUNK):
        connection.execute(
            update(TRIGGER)
            .where(TRIGGER.c.id.in_(renewed[start : start + _CHUNK]), TRIGGER.c.triggerer == holder)
            .values(lease_expires_at=expires)
        )
    if cancelled:
        connection.execute(
            delete(TRIGGER).where(
                TRIGGER.c.id.in_(cancelled),
                TRIGGER.c.triggerer == holder,
                TRIGGER.c.fired_at.is_(None),
            )
        )
    return lost, cancelled


def release_triggers(connection: Connection, holder: str, held: Sequence[Held]) -> int:
    """Give ``held`` back (a triggerer shutting down): another may take them at once."""
    return give_back(connection, TRIGGER_LEASE, holder, held)


def trigger_bundle(connection: Connection, trigger_id: int) -> str | None:
    """The bundle of a trigger's DAG; ``None`` if there is no such trigger."""
    return connection.scalar(
        select(DAG.c.bundle_name)
        .select_from(TRIGGER)
        .join(TI, TI.c.id == TRIGGER.c.task_instance_id)
        .join(DAG, DAG.c.dag_id == TI.c.dag_id)
        .where(TRIGGER.c.id == trigger_id)
    )


def trigger_bundles(connection: Connection, trigger_ids: Sequence[int]) -> dict[int, str]:
    """The bundle of each of ``trigger_ids`` that exists."""
    found: dict[int, str] = {}
    for start in range(0, len(trigger_ids), _CHUNK):
        rows = connection.execute(
            select(TRIGGER.c.id, DAG.c.bundle_name)
            .join(TI, TI.c.id == TRIGGER.c.task_instance_id)
            .join(DAG, DAG.c.dag_id == TI.c.dag_id)
            .where(TRIGGER.c.id.in_(list(trigger_ids[start : start + _CHUNK])))
        )
        found.update((trigger_id, bundle) for trigger_id, bundle in rows)
    return found


def fire_trigger(
    connection: Connection,
    trigger_id: int,
    holder: str,
    epoch: int,
    next_method: str | None,
    event: dict[str, Any],
    now: dt.datetime,
) -> tuple[str, dt.datetime]:
    """Resume the trigger's task, once: ``(task instance id, when it fired)``.

    ``next_method`` ``None`` keeps the method the task deferred with; ``event`` joins its
    kwargs. Raises :class:`TriggerNotFound` or :class:`TriggerConflict`.
    """
    row = connection.execute(
        select(
            TRIGGER.c.task_instance_id,
            TRIGGER.c.triggerer,
            TRIGGER.c.lease_epoch,
            TRIGGER.c.fired_at,
            TI.c.state,
            TI.c.next_method,
            TI.c.next_kwargs,
        )
        .join(TI, TI.c.id == TRIGGER.c.task_instance_id)
        .where(TRIGGER.c.id == trigger_id)
    ).one_or_none()
    if row is None:
        raise TriggerNotFound(
            f"trigger {trigger_id} does not exist: its task stopped waiting or deferred again"
        )
    mine = row.triggerer == holder and row.lease_epoch == epoch
    if row.fired_at is not None:
        if mine:
            return row.task_instance_id, row.fired_at  # the same call, repeated
        raise TriggerConflict(f"trigger {trigger_id} already fired at {row.fired_at.isoformat()}")
    if not mine:
        raise TriggerConflict(
            f"trigger {trigger_id} is no longer leased to {holder!r} under epoch {epoch} "
            f"(holder now {row.triggerer!r}, epoch {row.lease_epoch}); drop it"
        )
    kwargs = {**(row.next_kwargs or {}), **event}
    moved = connection.execute(
        update(TI)
        .where(
            TI.c.id == row.task_instance_id,
            TI.c.state == TIS.DEFERRED,
            exists().where(
                TRIGGER.c.id == trigger_id,
                TRIGGER.c.triggerer == holder,
                TRIGGER.c.lease_epoch == epoch,
                TRIGGER.c.fired_at.is_(None),
            ),
        )
        .values(
            state=TIS.SCHEDULED,
            next_method=next_method or row.next_method,
            next_kwargs=kwargs,
        )
    )
    if cast(CursorResult[Any], moved).rowcount != 1:
        raise TriggerConflict(
            f"trigger {trigger_id}'s task instance {row.task_instance_id} no longer waits for it "
            f"(state {row.state})"
        )
    connection.execute(update(TRIGGER).where(TRIGGER.c.id == trigger_id).values(fired_at=now))
    telemetry.trigger_fired(connection, trigger_id, now)
    return row.task_instance_id, now


def time_out_triggers(session: Session, now: dt.datetime) -> list[str]:
    """Resume, to fail, the tasks whose trigger passed its timeout; their ids."""
    due = session.execute(
        select(TRIGGER.c.id, TRIGGER.c.task_instance_id, TRIGGER.c.created_at).where(
            TRIGGER.c.timeout_at <= now, _live()
        )
    ).all()
    resumed = []
    for trigger_id, ti_id, created_at in due:
        waited = (now - created_at).total_seconds()
        moved = session.execute(
            update(TI)
            .where(TI.c.id == ti_id, TI.c.state == TIS.DEFERRED)
            .values(
                state=TIS.SCHEDULED,
                next_method=FAIL,
                next_kwargs={"error": f"the trigger timed out after {waited:.0f} s"},
            )
        )
        if cast(CursorResult[Any], moved).rowcount:
            session.execute(update(TRIGGER).where(TRIGGER.c.id == trigger_id).values(fired_at=now))
            resumed.append(ti_id)
    return resumed


def forget_fired(session: Session, now: dt.datetime) -> int:
    """Delete triggers whose task no longer waits for them and that no live lease holds (a
    holder's next heartbeat reports a held one cancelled, and deletes it)."""
    result = session.execute(
        delete(TRIGGER).where(
            ~exists().where(TI.c.id == TRIGGER.c.task_instance_id, TI.c.state == TIS.DEFERRED),
            or_(
                TRIGGER.c.fired_at.is_not(None),
                TRIGGER.c.lease_expires_at.is_(None),
                TRIGGER.c.lease_expires_at <= now,
            ),
        )
    )
    return cast(CursorResult[Any], result).rowcount


__all__ = [
    "FAIL",
    "SUCCEED",
    "TRIGGER",
    "TRIGGER_LEASE",
    "Held",
    "LeasedRow",
    "TriggerConflict",
    "TriggerForbidden",
    "TriggerNotFound",
    "fire_trigger",
    "forget_fired",
    "heartbeat_triggers",
    "lease_triggers",
    "release_triggers",
    "store_trigger",
    "time_out_triggers",
    "trigger_bundle",
    "trigger_bundles",
]
