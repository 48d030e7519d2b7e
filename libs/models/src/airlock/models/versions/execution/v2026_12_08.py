"""Execution API 2026-12-08: task and asset state stores; a retry policy's delay; a worker
confirms the tasks a poll started for it in one call.

- ``/task-instances/{ti_id}/state/{key}`` (GET, PUT, DELETE) and ``/task-instances/{ti_id}/state``
  (DELETE: clear) are the running task's own key/value store, kept across its tries.
- ``/task-instances/{ti_id}/asset-state/{key}?uri=…`` (and DELETE without a key) are the store
  of one of the task's inlet or outlet assets, as the task's bundle sees it, kept across runs.
- ``/task-instances/{ti_id}/asset-events?uri=…&limit=…`` (GET) lists the latest events of one
  of the task's declared assets (``inlet_events``).
- ``/dag-runs/{dag_id}/by-logical-date`` and ``/dag-runs/{dag_id}/{run_id}/task-states`` (GET)
  let ``ExternalTaskSensor`` find another DAG's run and its tasks' states (same bundle only).
- ``TaskFailed.retry_delay_s`` is new: the delay a task's retry policy chose for its retry.
- ``POST /execution/workloads/confirm`` is new (worker token): :class:`StartConfirmation` names
  the tasks (each with the task token its workload carried), :class:`StartConfirmationReply` says
  for each whether its start holds. Before this version each task's first heartbeat confirmed
  it (ADR 0020), one request per task; that still works.
- ``Workload.traceparent`` is new: the W3C ``traceparent`` of the try's span in its DAG run's
  trace, set when the server exports traces (ADR 0024). The worker's span for the try, the task
  process's span and the task's own spans nest under it. Workers of older versions do not
  receive it.
"""

from airlock.models.execution import TaskFailed, Workload
from airlock.models.versioning import EndpointAdded, FieldAdded, Version

VERSION = Version(
    "2026-12-08",
    "Task and asset state stores: get, set (with a retention), delete and clear a key; "
    "TaskFailed gains retry_delay_s (a retry policy's delay); POST /workloads/confirm: the "
    "starts of one poll confirmed in one call; Workload gains traceparent (the try's span in "
    "its DAG run's trace).",
    changes=(
        EndpointAdded("GET", "/task-instances/{ti_id}/state/{key}"),
        EndpointAdded("PUT", "/task-instances/{ti_id}/state/{key}"),
        EndpointAdded("DELETE", "/task-instances/{ti_id}/state/{key}"),
        EndpointAdded("DELETE", "/task-instances/{ti_id}/state"),
        EndpointAdded("GET", "/task-instances/{ti_id}/asset-state/{key}"),
        EndpointAdded("PUT", "/task-instances/{ti_id}/asset-state/{key}"),
        EndpointAdded("DELETE", "/task-instances/{ti_id}/asset-state/{key}"),
        EndpointAdded("DELETE", "/task-instances/{ti_id}/asset-state"),
        EndpointAdded("GET", "/task-instances/{ti_id}/asset-events"),
        EndpointAdded("GET", "/dag-runs/{dag_id}/by-logical-date"),
        EndpointAdded("GET", "/dag-runs/{dag_id}/{run_id}/task-states"),
        EndpointAdded("POST", "/workloads/confirm"),
        FieldAdded(TaskFailed, "retry_delay_s"),
        FieldAdded(Workload, "traceparent"),
    ),
)
