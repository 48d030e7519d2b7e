"""Internal API 2026-12-08: asset watchers run by triggerers (ADR 0022).

A triggerer leases the watchers its bundles' DAGs declare, heartbeats them with their status,
stores the events they observe (``stored`` / ``duplicate`` / ``refused`` per event, by dedup key)
and gives leases back on shutdown. Clients of older versions do not see these endpoints.
"""

from airlock.models.versioning import EndpointAdded, Version

VERSION = Version(
    "2026-12-08",
    "Asset watchers: lease, heartbeat with status, store events by dedup key, release.",
    changes=(
        EndpointAdded("POST", "/watchers/lease"),
        EndpointAdded("POST", "/watchers/heartbeat"),
        EndpointAdded("POST", "/watchers/events"),
        EndpointAdded("POST", "/watchers/release"),
    ),
)
