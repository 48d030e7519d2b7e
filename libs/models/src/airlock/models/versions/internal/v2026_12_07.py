"""Internal API 2026-12-07: the callback processor's endpoints.

- ``POST /internal/callbacks/lease`` leases due callbacks of the token's bundles.
- ``POST /internal/callbacks/report`` records how leased attempts ended (fenced by epoch).

Clients of 2026-11-01 do not see them.
"""

from airlock.models.versioning import EndpointAdded, Version

VERSION = Version(
    "2026-12-07",
    "Callback processor: lease callbacks and report their outcomes.",
    changes=(
        EndpointAdded("POST", "/callbacks/lease"),
        EndpointAdded("POST", "/callbacks/report"),
    ),
)
