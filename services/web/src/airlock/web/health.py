"""Who is alive: each component's last heartbeat, and the version of the Web API.

The scheduler, DAG processors, triggerers and callback processors write a
``component_heartbeat`` row (kind, name); workers their ``worker`` row. A component is
``healthy`` when its last heartbeat is more recent than ``stale_after_s`` (default 60 s), and a
kind with no live component is ``unhealthy``. The database's own health is whether this query ran.
"""

from __future__ import annotations

import datetime as dt
from importlib import metadata
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.http import require_user_role
from airlock.core.http.app import API_VERSION
from airlock.core.tokens import UserRole
from airlock.db import ComponentHeartbeat, Worker
from airlock.models.web_health import ComponentStatus, KindStatus, MonitorHealth, VersionInfo

#: The kinds answered even when none has ever run, so a missing scheduler shows.
EXPECTED_KINDS = ("scheduler", "dag-processor", "triggerer", "callback-processor")
DEFAULT_STALE_AFTER_S = 60.0


class HealthController(Controller):
    path = "/"
    tags = ["health"]
    guards = [require_user_role(UserRole.VIEWER)]

    @get("/monitor/health", operation_id="GetComponentHealth", sync_to_thread=True)
    def component_health(
        self,
        session: NamedDependency[Session],
        stale_after_s: Annotated[float, QueryParameter(gt=0, le=86_400)] = DEFAULT_STALE_AFTER_S,
    ) -> MonitorHealth:
        now = dt.datetime.now(dt.UTC)
        cutoff = now - dt.timedelta(seconds=stale_after_s)
        components = [
            ComponentStatus(
                kind=row.kind,
                name=row.name,
                status="healthy" if row.last_heartbeat_at >= cutoff else "unhealthy",
                last_heartbeat_at=row.last_heartbeat_at,
                started_at=row.started_at,
                hostname=(row.info or {}).get("hostname"),
                capacity=(row.info or {}).get("capacity"),
                load=(row.info or {}).get("load"),
                blocked_loops=(row.info or {}).get("blocked_loops"),
            )
            for row in session.scalars(
                select(ComponentHeartbeat).order_by(
                    ComponentHeartbeat.kind, ComponentHeartbeat.name
                )
            )
        ]
        components += [
            ComponentStatus(
                kind="worker",
                name=row.name,
                status="healthy" if row.last_heartbeat_at >= cutoff else "unhealthy",
                last_heartbeat_at=row.last_heartbeat_at,
                started_at=row.started_at,
            )
            for row in session.scalars(select(Worker).order_by(Worker.name))
        ]
        kinds: dict[str, KindStatus] = {}
        for kind in (*EXPECTED_KINDS, "worker", *(c.kind for c in components)):
            mine = [c.last_heartbeat_at for c in components if c.kind == kind]
            latest = max(mine, default=None)
            healthy = latest is not None and latest >= cutoff
            kinds[kind] = KindStatus(
                status="healthy" if healthy else "unhealthy", latest_heartbeat_at=latest
            )
        return MonitorHealth(
            metadatabase=KindStatus(status="healthy"), kinds=kinds, components=components
        )

    @get("/version", operation_id="GetVersion", sync_to_thread=True)
    def version(self) -> VersionInfo:
        try:
            package = metadata.version("airlock-web")
        except metadata.PackageNotFoundError:
            package = API_VERSION
        return VersionInfo(version=package, api_version=API_VERSION)
