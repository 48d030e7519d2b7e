"""``GET /api/v1/assets/{asset_id}/watchers``: an asset's watchers, who runs each and how it is
doing (state, lag, last error, last event), as the holding triggerer last reported through the
Internal API (ADR 0022). Visible to whoever may see the asset."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.orm import Session

from airlock.core.http import require_user_role
from airlock.core.tokens import UserRole
from airlock.models.web_watchers import WatcherCollection, WatcherView
from airlock.scheduling.watchers import watchers_of_asset
from airlock.web.assets import _find_asset

#: Shown while no triggerer holds the watcher (none runs, or its holder's lease ran out).
WAITING = "waiting"


class AssetWatcherController(Controller):
    path = "/assets/{asset_id:int}/watchers"
    tags = ["assets"]
    guards = [require_user_role(UserRole.VIEWER)]

    @get("/", operation_id="ListAssetWatchers", sync_to_thread=True)
    def list_watchers(
        self,
        request: Request[Any, Any, Any],
        asset_id: FromPath[int],
        session: NamedDependency[Session],
    ) -> WatcherCollection:
        """The watchers DAGs declare on this asset and their status."""
        asset = _find_asset(request, session, asset_id=asset_id)
        now = dt.datetime.now(dt.UTC)
        views = []
        for row in watchers_of_asset(session.connection(), asset.id):
            held = (
                row.triggerer is not None
                and row.lease_expires_at is not None
                and row.lease_expires_at > now
            )
            views.append(
                WatcherView(
                    id=row.id,
                    dag_id=row.dag_id,
                    asset_id=row.asset_id,
                    name=row.name,
                    classpath=row.classpath,
                    state=(row.state or "starting") if held else WAITING,
                    triggerer=row.triggerer if held else None,
                    lease_expires_at=row.lease_expires_at if held else None,
                    lag=row.lag,
                    last_error=row.last_error,
                    status_at=row.status_at,
                    last_event_at=row.last_event_at,
                    events_stored=row.events_stored,
                )
            )
        return WatcherCollection(watchers=views, total_entries=len(views))
