"""Internal API 2026-11-01: the first dated version (bundle files and DAG sync, bundle-scoped
variables and connections). It is both the oldest and the head version, so it lists no changes.
"""

from airlock.models.versioning import Version

VERSION = Version(
    "2026-11-01",
    "The first dated version: bundle file listing, DAG sync, variables and connections.",
)
