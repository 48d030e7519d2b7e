"""Internal API 2026-12-07: the triggerer's endpoints (ADR 0013).

A triggerer (service token, role ``triggerer``) leases the triggers of deferred tasks of its
bundles, heartbeats its leases, posts each trigger's event or failure under the lease's epoch,
and gives leases back on shutdown. Clients of 2026-11-01 do not see these endpoints.
"""

from airlock.models.versioning import EndpointAdded, Version

VERSION = Version(
    "2026-12-07",
    "Triggers: lease, heartbeat, release, and a trigger's event or failure.",
    changes=(
        EndpointAdded("POST", "/triggers/lease"),
        EndpointAdded("POST", "/triggers/heartbeat"),
        EndpointAdded("POST", "/triggers/release"),
        EndpointAdded("POST", "/triggers/events"),
        EndpointAdded("POST", "/triggers/{trigger_id}/event"),
        EndpointAdded("POST", "/triggers/{trigger_id}/failure"),
    ),
)
