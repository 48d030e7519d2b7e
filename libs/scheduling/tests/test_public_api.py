"""The package's public names are pinned: changing them is a decision, not an accident."""

from __future__ import annotations

import airlock.scheduling


def test_exported_names() -> None:
    assert sorted(airlock.scheduling.__all__) == [
        "AffectedTask",
        "BadDagVersion",
        "DagCache",
        "DagGraph",
        "DagNotFound",
        "DagRunExists",
        "DagRunNotFound",
        "DagStale",
        "DagVersionNotFound",
        "DataInterval",
        "Decision",
        "NextRun",
        "RESERVED_SCHEME",
        "RunChange",
        "ScheduleResult",
        "SchedulingError",
        "StateConflict",
        "TaskEnd",
        "TaskInstanceNotFound",
        "TaskNotInDag",
        "UpstreamCounts",
        "add_queue_listener",
        "claim_missed_deadlines",
        "clear_task_instances",
        "create_asset_event",
        "create_asset_triggered_runs",
        "create_dag_run",
        "create_task_instances_in_batches",
        "decide",
        "drop_backlog",
        "expire_claims",
        "fail_timed_out",
        "fail_zombies",
        "finish_task",
        "finish_tasks",
        "instance_marks",
        "mark_run",
        "mark_task_instances",
        "needs_scheduling",
        "next_run_info",
        "queue_scheduled",
        "record_completion_event",
        "record_reasons",
        "remove_queue_listener",
        "retry_delay_s",
        "return_unconfirmed",
        "schedule_run",
        "schedule_run_in_turns",
        "try_lock_run",
    ]
    for name in airlock.scheduling.__all__:
        assert getattr(airlock.scheduling, name) is not None
