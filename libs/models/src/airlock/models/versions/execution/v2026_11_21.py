"""Execution API 2026-11-21: the DAG file's path gets Airflow 3's name, and a running task learns
whether a failure would be retried and which asset events triggered its run.

- ``Workload.relative_fileloc`` is now ``Workload.dag_rel_path`` (the name Airflow 3 workloads
  use for the DAG file's path inside its bundle). Workers of 2026-11-01 still receive
  ``relative_fileloc``.
- ``TaskRunContext.should_retry`` is new: true when this try failing would leave the task up for
  retry rather than failed. Workers of 2026-11-01 do not receive it.
- ``TaskRunContext.triggering_asset_events`` is new: the asset events an asset-triggered run
  consumed (ADR 0008), which the SDK shows as ``context["triggering_asset_events"]``. Workers of
  2026-11-01 do not receive it.
- ``WorkloadRequest.start`` (with ``hostname`` and ``pid``) is new: a worker may ask the hand-out
  to move the tasks it starts at once to ``running``; their workloads carry the new
  ``Workload.context`` (what ``PATCH …/run`` answers). Requests of 2026-11-01 start nothing.
  Such a task is recorded under the supervisor's pid until its runner names the task's own
  process: in a heartbeat (the new ``Heartbeat.task_pid``) or with its outcome (the new ``pid``
  of every outcome).
"""

from airlock.models.execution import (
    Heartbeat,
    TaskDeferred,
    TaskFailed,
    TaskRescheduled,
    TaskRunContext,
    TaskSkipped,
    TaskSucceeded,
    Workload,
    WorkloadRequest,
)
from airlock.models.versioning import FieldAdded, FieldRenamed, Version

VERSION = Version(
    "2026-11-21",
    "Workload.relative_fileloc is renamed dag_rel_path; TaskRunContext gains should_retry and "
    "triggering_asset_events; a workload request may ask to start what it takes "
    "(WorkloadRequest.start, hostname, pid; Workload.context), and a runner names its task's "
    "process (Heartbeat.task_pid, the outcomes' pid).",
    changes=(
        FieldRenamed(Workload, old="relative_fileloc", new="dag_rel_path"),
        FieldAdded(TaskRunContext, "should_retry"),
        FieldAdded(TaskRunContext, "triggering_asset_events"),
        FieldAdded(WorkloadRequest, "start"),
        FieldAdded(WorkloadRequest, "hostname"),
        FieldAdded(WorkloadRequest, "pid"),
        FieldAdded(Workload, "context"),
        FieldAdded(Heartbeat, "task_pid"),
        *(
            FieldAdded(outcome, "pid")
            for outcome in (TaskSucceeded, TaskFailed, TaskSkipped, TaskRescheduled, TaskDeferred)
        ),
    ),
)
