"""Trigger endpoints: a triggerer leases the triggers of deferred tasks, heartbeats its leases,
and reports each trigger's event or failure (DESIGN §4.3, §8; payloads in
:mod:`airlock.models.internal_triggers`).

Only a service token with role ``triggerer`` gets here, and it sees only the triggers of its
bundles: a trigger of another bundle is 403, whatever its id. Every write names the lease's
epoch: a holder whose lease moved on gets 409 and drops the trigger. A trigger's classpath and
kwargs are stored and returned as data; nothing here imports or unpickles them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of, require_service_role
from airlock.core.settings import InternalSettings
from airlock.core.tokens import ServiceRole
from airlock.db import ComponentHeartbeat, upsert_insert
from airlock.internal.leasing import give_back_rows, holder_name, lease_rows, utc_now
from airlock.models.internal_triggers import (
    LeasedTrigger,
    TriggerEventBatch,
    TriggerEventPost,
    TriggerEventResults,
    TriggerFailurePost,
    TriggerFired,
    TriggerHeartbeat,
    TriggerHeartbeatReply,
    TriggerLeaseBatch,
    TriggerLeaseRequest,
    TriggerRelease,
    TriggersReleased,
)
from airlock.scheduling.leases import Held
from airlock.scheduling.tables import connection
from airlock.scheduling.triggers import (
    FAIL,
    SUCCEED,
    TriggerConflict,
    TriggerNotFound,
    fire_trigger,
    heartbeat_triggers,
    lease_triggers,
    release_triggers,
    trigger_bundle,
    trigger_bundles,
)

#: The component kind triggerers heartbeat as (the Web API's health lists them).
KIND = "triggerer"


def _check_bundle(request: Request[Any, Any, Any], session: Session, trigger_id: int) -> None:
    bundle = trigger_bundle(connection(session), trigger_id)
    if bundle is None:
        raise Problem(
            404,
            f"trigger {trigger_id} does not exist: its task stopped waiting or deferred again; "
            "drop it",
            slug="trigger-not-found",
        )
    claims = claims_of(request)
    if not claims.may_touch_bundle(bundle):
        raise Problem(
            403,
            f"trigger {trigger_id} belongs to bundle {bundle!r}; this token may touch "
            f"bundles {claims.bundles}",
            slug="forbidden-bundle",
        )


def _resume_with(outcome: str, payload: Any) -> tuple[str | None, dict[str, Any]]:
    """How an event resumes its task: with its own method and ``event``, or ended at once."""
    if outcome == "success":
        return SUCCEED, {}
    if outcome == "failed":
        return FAIL, {"error": f"the trigger ended the task as failed: {payload!r}"}
    return None, {"event": payload}


def _fire(
    request: Request[Any, Any, Any],
    session: Session,
    trigger_id: int,
    triggerer: str,
    epoch: int,
    next_method: str | None,
    event: dict[str, Any],
) -> TriggerFired:
    _check_bundle(request, session, trigger_id)
    try:
        ti_id, fired_at = fire_trigger(
            connection(session),
            trigger_id,
            holder_name(request, triggerer),
            epoch,
            next_method,
            event,
            utc_now(),
        )
    except TriggerNotFound as exc:
        raise Problem(404, str(exc), slug="trigger-not-found") from None
    except TriggerConflict as exc:
        raise Problem(409, str(exc), slug="trigger-lease-lost") from None
    session.commit()
    return TriggerFired(trigger_id=trigger_id, ti_id=ti_id, fired_at=fired_at)


class TriggerController(Controller):
    path = "/triggers"
    tags = ["triggers"]
    guards = [require_service_role(ServiceRole.TRIGGERER)]

    @post("/lease", operation_id="LeaseTriggers", sync_to_thread=True, status_code=200)
    def lease(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[TriggerLeaseRequest],
        session: NamedDependency[Session],
        internal_settings: NamedDependency[InternalSettings],
    ) -> TriggerLeaseBatch:
        """Lease up to ``limit`` triggers of the token's bundles: free ones first by age, and
        those a triggerer stopped renewing."""
        lease_s = internal_settings.trigger_lease_s
        rows = lease_rows(request, session, lease_triggers, data.triggerer, data.limit, lease_s)
        return TriggerLeaseBatch(
            triggers=[
                LeasedTrigger(
                    id=r.id,
                    epoch=r.epoch,
                    classpath=r.classpath,
                    kwargs=r.kwargs,
                    bundle=r.bundle,
                    dag_rel_path=r.dag_rel_path,
                    dag_id=r.dag_id,
                    run_id=r.run_id,
                    task_id=r.task_id,
                    map_index=r.map_index,
                    ti_id=r.ti_id,
                    try_number=r.try_number,
                )
                for r in rows
            ],
            lease_s=lease_s,
        )

    @post("/heartbeat", operation_id="HeartbeatTriggers", sync_to_thread=True, status_code=200)
    def heartbeat(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[TriggerHeartbeat],
        session: NamedDependency[Session],
        internal_settings: NamedDependency[InternalSettings],
    ) -> TriggerHeartbeatReply:
        """Renew the leases held; say which were lost (do not clean up) and which cancelled
        (clean up). Also the triggerer's sign of life, with its capacity and load."""
        now = utc_now()
        lease_s = internal_settings.trigger_lease_s
        holder = holder_name(request, data.triggerer)
        lost, cancelled = heartbeat_triggers(
            connection(session), holder, [Held(h.id, h.epoch) for h in data.held], now, lease_s
        )
        _record_triggerer(session, holder, data, now)
        session.commit()
        return TriggerHeartbeatReply(lost=lost, cancelled=cancelled, lease_s=lease_s)

    @post("/release", operation_id="ReleaseTriggers", sync_to_thread=True, status_code=200)
    def release(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[TriggerRelease],
        session: NamedDependency[Session],
    ) -> TriggersReleased:
        """Give leases back (a triggerer shutting down): another triggerer takes them at once."""
        released = give_back_rows(request, session, release_triggers, data.triggerer, data.held)
        return TriggersReleased(released=released)

    @post("/events", operation_id="PostTriggerEvents", sync_to_thread=True, status_code=200)
    def events(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[TriggerEventBatch],
        session: NamedDependency[Session],
    ) -> TriggerEventResults:
        """Several triggers fired: each task resumes once, all in one transaction. A trigger
        the caller may not fire (lease moved on, task stopped waiting, another bundle's) is
        refused without failing the others."""
        holder = holder_name(request, data.triggerer)
        claims = claims_of(request)
        bundles = trigger_bundles(connection(session), [e.id for e in data.events])
        accepted: list[int] = []
        refused: list[int] = []
        now = utc_now()
        for item in data.events:
            bundle = bundles.get(item.id)
            if bundle is None or not claims.may_touch_bundle(bundle):
                refused.append(item.id)
                continue
            next_method, event = _resume_with(item.outcome, item.payload)
            try:
                fire_trigger(
                    connection(session), item.id, holder, item.epoch, next_method, event, now
                )
                accepted.append(item.id)
            except (TriggerNotFound, TriggerConflict):
                refused.append(item.id)
        session.commit()
        return TriggerEventResults(accepted=accepted, refused=refused)

    @post(
        "/{trigger_id:int}/event",
        operation_id="PostTriggerEvent",
        sync_to_thread=True,
        status_code=200,
    )
    def event(
        self,
        request: Request[Any, Any, Any],
        trigger_id: FromPath[int],
        data: JSONBody[TriggerEventPost],
        session: NamedDependency[Session],
    ) -> TriggerFired:
        """The trigger fired: its task resumes (once) with ``event`` = the payload, or ends at
        once (``success`` / ``failed``)."""
        next_method, event = _resume_with(data.outcome, data.payload)
        return _fire(request, session, trigger_id, data.triggerer, data.epoch, next_method, event)

    @post(
        "/{trigger_id:int}/failure",
        operation_id="PostTriggerFailure",
        sync_to_thread=True,
        status_code=200,
    )
    def failure(
        self,
        request: Request[Any, Any, Any],
        trigger_id: FromPath[int],
        data: JSONBody[TriggerFailurePost],
        session: NamedDependency[Session],
    ) -> TriggerFired:
        """The trigger raised or could not be loaded: its task resumes to fail, with the error
        and traceback in its log."""
        event = {"error": data.error, "traceback": data.traceback}
        return _fire(request, session, trigger_id, data.triggerer, data.epoch, FAIL, event)


def _record_triggerer(
    session: Session, holder: str, data: TriggerHeartbeat, now: dt.datetime
) -> None:
    info = {
        "capacity": data.capacity,
        "load": len(data.held),
        "blocked_loops": data.blocked_loops,
    }
    insert = upsert_insert(session.get_bind().dialect.name)
    statement = insert(ComponentHeartbeat).values(
        kind=KIND, name=holder, started_at=now, last_heartbeat_at=now, info=info
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[ComponentHeartbeat.kind, ComponentHeartbeat.name],
            set_={"last_heartbeat_at": now, "info": info},
        )
    )
