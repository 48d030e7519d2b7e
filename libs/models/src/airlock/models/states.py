"""States of DAG runs and task instances, shared by the DB, the APIs and the SDK.

The values are Airflow's, so people reading a run's history see the words they know.
"""

from __future__ import annotations

import enum


class DagRunState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


class DagRunType(enum.StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    ASSET_TRIGGERED = "asset_triggered"
    BACKFILL = "backfill"


class TaskInstanceState(enum.StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    REMOVED = "removed"
    DEFERRED = "deferred"
    RESTARTING = "restarting"


#: States from which a task instance will not move again without a clear.
TERMINAL_TASK_STATES = frozenset(
    {
        TaskInstanceState.SUCCESS,
        TaskInstanceState.FAILED,
        TaskInstanceState.UPSTREAM_FAILED,
        TaskInstanceState.SKIPPED,
        TaskInstanceState.REMOVED,
    }
)

TERMINAL_DAG_RUN_STATES = frozenset({DagRunState.SUCCESS, DagRunState.FAILED})
