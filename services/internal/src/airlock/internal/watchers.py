"""Watcher endpoints: a triggerer leases the asset watchers of its bundles' DAGs, heartbeats them
with their status, and stores the events they observe (DESIGN §4.5; ADR 0022; payloads in
:mod:`airlock.models.internal_watchers`).

Only a service token with role ``triggerer`` gets here, and only for the watchers of its
bundles. Every write names the lease's epoch: events from a holder whose lease moved on are
``refused`` and it must not ack them (the broker redelivers them to the new holder). Stored
events are committed before the answer leaves, so a watcher that acks on ``stored`` or
``duplicate`` never acks an event that is not in the database. The runs the new events call for
are then started in the same request, so an event's first task does not wait for the
scheduler's next loop.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from airlock.core.http import claims_of, require_service_role
from airlock.core.settings import InternalSettings
from airlock.core.tokens import ServiceRole
from airlock.internal.leasing import give_back_rows, holder_name, lease_rows, utc_now
from airlock.models.internal_watchers import (
    LeasedWatcher,
    WatcherEventBatch,
    WatcherEventResults,
    WatcherHeartbeat,
    WatcherHeartbeatReply,
    WatcherLeaseBatch,
    WatcherLeaseRequest,
    WatcherRelease,
    WatchersReleased,
)
from airlock.scheduling import DagCache, create_asset_triggered_runs, schedule_run
from airlock.scheduling.errors import SchedulingError
from airlock.scheduling.tables import connection
from airlock.scheduling.watchers import (
    WatcherEvent,
    heartbeat_watchers,
    lease_watchers,
    release_watchers,
    store_watcher_events,
    watcher_bundles,
)

log = logging.getLogger(__name__)

#: Decoded DAG versions of this process (asset-triggered runs are started here, see below).
_DAG_CACHE = DagCache(max_entries=64)


def _start_runs(session: Session) -> None:
    """Start the runs the new events call for, at once, as triggering a run through the Web API
    does: a consumer's first tasks are queued in this request (and the Execution API's
    long-polls in this process woken) instead of on the scheduler's next look. The events are
    already committed; a failure here leaves the runs to the scheduler."""
    now = utc_now()
    try:
        for run in create_asset_triggered_runs(session, _DAG_CACHE, now):
            schedule_run(session, run, _DAG_CACHE, now)
        session.commit()
    except (SQLAlchemyError, SchedulingError) as exc:
        session.rollback()
        log.warning("asset-triggered runs left to the scheduler: %s", exc)


class WatcherController(Controller):
    path = "/watchers"
    tags = ["watchers"]
    guards = [require_service_role(ServiceRole.TRIGGERER)]

    @post("/lease", operation_id="LeaseWatchers", sync_to_thread=True, status_code=200)
    def lease(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[WatcherLeaseRequest],
        session: NamedDependency[Session],
        internal_settings: NamedDependency[InternalSettings],
    ) -> WatcherLeaseBatch:
        """Lease up to ``limit`` free watchers of the token's bundles (new ones, given-back
        ones, and those a triggerer stopped renewing)."""
        lease_s = internal_settings.trigger_lease_s
        rows = lease_rows(request, session, lease_watchers, data.triggerer, data.limit, lease_s)
        return WatcherLeaseBatch(
            watchers=[
                LeasedWatcher(
                    id=r.id,
                    epoch=r.epoch,
                    name=r.name,
                    classpath=r.classpath,
                    kwargs=r.kwargs,
                    bundle=r.bundle,
                    dag_rel_path=r.dag_rel_path,
                    dag_id=r.dag_id,
                    asset_uri=r.asset_uri,
                )
                for r in rows
            ],
            lease_s=lease_s,
        )

    @post("/heartbeat", operation_id="HeartbeatWatchers", sync_to_thread=True, status_code=200)
    def heartbeat(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[WatcherHeartbeat],
        session: NamedDependency[Session],
        internal_settings: NamedDependency[InternalSettings],
    ) -> WatcherHeartbeatReply:
        """Renew the leases held and record each watcher's status; name the ones lost."""
        lease_s = internal_settings.trigger_lease_s
        lost = heartbeat_watchers(
            connection(session), holder_name(request, data.triggerer), data.held, utc_now(), lease_s
        )
        session.commit()
        return WatcherHeartbeatReply(lost=lost, lease_s=lease_s)

    @post("/events", operation_id="StoreWatcherEvents", sync_to_thread=True, status_code=200)
    def events(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[WatcherEventBatch],
        session: NamedDependency[Session],
    ) -> WatcherEventResults:
        """Store external events as asset events, one transaction for the batch; per event
        ``stored``, ``duplicate`` (ack either way) or ``refused`` (do not ack)."""
        claims = claims_of(request)
        bundles = watcher_bundles(connection(session), [e.watcher_id for e in data.events])
        allowed = {w: claims.may_touch_bundle(b) for w, b in bundles.items()}
        results = store_watcher_events(
            session,
            holder_name(request, data.triggerer),
            [WatcherEvent(e.watcher_id, e.epoch, e.dedup_key, dict(e.extra)) for e in data.events],
            utc_now(),
            allowed=allowed,
        )
        session.commit()
        if "stored" in results:
            _start_runs(session)
        return WatcherEventResults(results=results)

    @post("/release", operation_id="ReleaseWatchers", sync_to_thread=True, status_code=200)
    def release(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[WatcherRelease],
        session: NamedDependency[Session],
    ) -> WatchersReleased:
        """Give leases back (a triggerer shutting down): another triggerer takes them at once."""
        released = give_back_rows(request, session, release_watchers, data.triggerer, data.held)
        return WatchersReleased(released=released)
