"""Internal API 2026-12-07: the triggerer's endpoints (ADR 0013) and the callback processor's
(ADR 0015).

- A triggerer (service token, role ``triggerer``) leases the triggers of deferred tasks of its
  bundles, heartbeats its leases, posts each trigger's event or failure under the lease's epoch,
  and gives leases back on shutdown.
- A callback processor (role ``callback-processor``) leases due callbacks of its bundles
  (``POST /internal/callbacks/lease``) and records how leased attempts ended, fenced by epoch
  (``POST /internal/callbacks/report``).

Clients of 2026-11-01 do not see these endpoints.
"""

from airlock.models.versioning import EndpointAdded, Version

VERSION = Version(
    "2026-12-07",
    "Triggers: lease, heartbeat, release, and a trigger's event or failure; callbacks: lease "
    "and report their outcomes.",
    changes=(
        EndpointAdded("POST", "/triggers/lease"),
        EndpointAdded("POST", "/triggers/heartbeat"),
        EndpointAdded("POST", "/triggers/release"),
        EndpointAdded("POST", "/triggers/events"),
        EndpointAdded("POST", "/triggers/{trigger_id}/event"),
        EndpointAdded("POST", "/triggers/{trigger_id}/failure"),
        EndpointAdded("POST", "/callbacks/lease"),
        EndpointAdded("POST", "/callbacks/report"),
    ),
)
