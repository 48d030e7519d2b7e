"""Execution API 2026-12-08: task and asset state stores.

- ``/task-instances/{ti_id}/state/{key}`` (GET, PUT, DELETE) and ``/task-instances/{ti_id}/state``
  (DELETE: clear) are the running task's own key/value store, kept across its tries.
- ``/task-instances/{ti_id}/asset-state/{key}?uri=…`` (and DELETE without a key) are the store
  of one of the task's inlet or outlet assets, as the task's bundle sees it, kept across runs.
"""

from airlock.models.versioning import EndpointAdded, Version

VERSION = Version(
    "2026-12-08",
    "Task and asset state stores: get, set (with a retention), delete and clear a key.",
    changes=(
        EndpointAdded("GET", "/task-instances/{ti_id}/state/{key}"),
        EndpointAdded("PUT", "/task-instances/{ti_id}/state/{key}"),
        EndpointAdded("DELETE", "/task-instances/{ti_id}/state/{key}"),
        EndpointAdded("DELETE", "/task-instances/{ti_id}/state"),
        EndpointAdded("GET", "/task-instances/{ti_id}/asset-state/{key}"),
        EndpointAdded("PUT", "/task-instances/{ti_id}/asset-state/{key}"),
        EndpointAdded("DELETE", "/task-instances/{ti_id}/asset-state/{key}"),
        EndpointAdded("DELETE", "/task-instances/{ti_id}/asset-state"),
    ),
)
