"""Execution API 2026-11-01: the first dated version, as workers of that day speak it.

It is the oldest version this server serves, so it lists no changes: the versions after it
describe how they differ from it.
"""

from airlock.models.versioning import Version

VERSION = Version(
    "2026-11-01",
    "The first dated version: workloads, task-instance state, logs, XComs, variables, "
    "connections and DAG runs.",
)
