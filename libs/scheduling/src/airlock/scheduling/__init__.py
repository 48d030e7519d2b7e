"""Scheduling decisions over the metadata DB, shared by the scheduler and the APIs (control zone).

Every function takes a synchronous SQLAlchemy ``Session`` (or ``Connection``) and works inside the
caller's transaction; **the caller commits** (or rolls back). Queries are set-based: a pass over a
run costs a fixed number of statements whatever its number of task instances. Each function's own
docstring is its contract; this map says where each part of a task instance's life is decided:

- runs: ``runs.create_dag_run`` (a queued run of the DAG's latest version), ``schedules``
  (the next time-based run), ``asset_runs`` / ``assets`` (runs from asset events);
- one pass over a run: ``run_pass.schedule_run`` (trigger rules, mapping, setup/teardown scope,
  retries, pools and limits, the run's end), ``queueing.queue_scheduled`` (the scheduler's step);
- a task instance's try, in order: ``handout`` (claim queued task instances for a worker, start
  the ones it runs at once, give back what it never gets), ``starting`` (queued → running),
  ``heartbeats``, ``finish`` (a runner's outcome, and what that end unblocks, in the same
  transaction), ``housekeeping`` (zombies, timeouts, expired claims, hand-outs never confirmed); ``tries`` is the one rule
  for which try a start runs and whether a message about a try still concerns the row;
- ``leases``: one helper (holder, epoch, TTL; acquire, renew, release, expire, fence) for every
  leased row — task claims, triggers (``triggers``) and callbacks (``callback_queue``);
- ``deadlines``: deadline alerts recorded when a run is created, a missed one claimed once
  (``claim_missed_deadlines``) and its callback queued, cancelled when the run ends first;
- by hand: ``clearing`` and ``marking``; ``reasons.record_reasons`` records why the control plane
  (or a person through it) changed a try's state: on the instance, its history row and its log;
- ``dag_cache.DagCache``: decodes each stored DAG version once per process; a version that does
  not decode or holds a cycle raises ``BadDagVersion`` (409), that DAG's error, never a reason
  for a service to stop.

Every id queued in a session is announced **after that session commits** to the listeners
registered with ``add_queue_listener(fn)`` (thread-safe; dropped on rollback); an Execution API
process registers one that wakes its long-polls.

Concurrency: each pass locks its run first (an ``UPDATE`` of ``dag_run.last_scheduling_decision``:
the row lock on PostgreSQL, the write lock on SQLite); state changes are conditional updates; pool
rows are locked (PostgreSQL) while slots are counted. Several schedulers and API servers may run
at once."""

from airlock.scheduling.asset_runs import create_asset_triggered_runs
from airlock.scheduling.assets import (
    RESERVED_SCHEME,
    create_asset_event,
    drop_backlog,
    record_completion_event,
)
from airlock.scheduling.clearing import (
    AffectedTask,
    DagRunNotFound,
    RunChange,
    clear_task_instances,
)
from airlock.scheduling.dag_cache import DagCache
from airlock.scheduling.deadlines import claim_missed as claim_missed_deadlines
from airlock.scheduling.errors import (
    BadDagVersion,
    DagNotFound,
    DagRunExists,
    DagStale,
    DagVersionNotFound,
    SchedulingError,
    StateConflict,
    TaskInstanceNotFound,
    TaskNotInDag,
)
from airlock.scheduling.finish import TaskEnd, finish_task, finish_tasks, retry_delay_s
from airlock.scheduling.graph import DagGraph
from airlock.scheduling.housekeeping import (
    expire_claims,
    fail_timed_out,
    fail_zombies,
    return_unconfirmed,
)
from airlock.scheduling.listeners import add_queue_listener, remove_queue_listener
from airlock.scheduling.locking import try_lock_run
from airlock.scheduling.marking import mark_run, mark_task_instances
from airlock.scheduling.queueing import queue_scheduled
from airlock.scheduling.reasons import record_reasons
from airlock.scheduling.run_pass import (
    ScheduleResult,
    instance_marks,
    needs_scheduling,
    schedule_run,
    schedule_run_in_turns,
)
from airlock.scheduling.runs import create_dag_run, create_task_instances_in_batches
from airlock.scheduling.schedules import DataInterval, NextRun, next_run_info
from airlock.scheduling.trigger_rules import Decision, UpstreamCounts, decide

__all__ = [
    "RESERVED_SCHEME",
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
