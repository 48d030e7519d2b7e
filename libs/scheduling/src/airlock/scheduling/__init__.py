"""Scheduling decisions over the metadata DB, shared by the scheduler and the APIs (control zone).

Every function takes a synchronous SQLAlchemy ``Session`` and works inside the caller's
transaction; **the caller commits** (or rolls back). Queries are set-based: a pass over a run
costs a fixed number of statements whatever its number of task instances.

Public API
==========

``DagCache(max_entries=256)``
    ``get(session, dag_version_id) -> SerializedDag``; ``graph(...) -> DagGraph`` (the same with
    precomputed order, leaves, setup scopes); ``task(session, dag_version_id, task_id) ->
    SerializedTask``. Decodes each version's blob once; thread-safe; share one per process.

``create_dag_run(session, dag_id, *, run_type, conf=None, logical_date=None, data_interval=None,
run_id=None, note=None, triggered_by=None, dag_cache, now=None) -> DagRun``
    A **queued** run of the DAG's latest version, with one stateless task instance per task.
    Raises ``DagNotFound`` (404), ``DagStale`` / ``DagRunExists`` (409). To start it at once
    (what an API trigger should do), call ``schedule_run`` on it in the same transaction.

``schedule_run(session, run, dag_cache, now, *, queue=True) -> ScheduleResult``
    One pass over a run: start it (queued → running, under ``max_active_runs``), create missing
    task instances, expand mapped tasks, apply trigger rules / skips / setup-teardown scope,
    complete empty tasks, make retries and reschedules that are due schedulable, queue what fits
    (pools, ``max_active_tasks`` per run, per-task limits, priority), end the run and queue its
    callback. ``ScheduleResult.queued`` holds the ids it queued.

``finish_task(session, ti_id, outcome, dag_cache, now) -> TaskInstanceState``
    Apply a runner's ``TaskOutcome`` to a *running* task instance, then schedule what that end
    changes in its run — incrementally: the task's downstream tasks, the slot it freed, the
    run's end; a full ``schedule_run`` pass only when that cannot be decided cheaply
    (``airlock.scheduling.incremental``). The next task is queued in the same transaction. It
    answers the state the task ended in (``failed`` may be ``up_for_retry``). A repeated report
    answers the same state; any other report on a non-running instance raises
    ``StateConflict`` (409); ``TaskInstanceNotFound`` (404). Reschedule and deferral keep the
    try open (``first_poke_at`` / ``next_method`` stay set, so the next start does not count a
    new try).

``finish_tasks(session, ends, dag_cache, now, *, run_key=None) -> list[state | error]``
    ``finish_task`` for several ``TaskEnd`` of one run in one transaction: the run is locked and
    scheduled once for all of them. Each end answers its state, or the ``StateConflict`` /
    ``TaskInstanceNotFound`` that refused it (a refused end writes nothing).

``needs_scheduling(session, run, dag_cache, now) -> bool``
    Whether ``schedule_run`` would change anything, judged by reading only (no lock): the
    scheduler's cheap check before re-examining a run.

``queue_scheduled(session, dag_cache, now, *, limit=512) -> list[str]``
    Queue ``scheduled`` instances across all running runs by priority (the scheduler loop's step).

``fail_zombies(session, now, heartbeat_timeout_s, dag_cache=None) -> list[str]``,
``fail_timed_out(session, now, dag_cache=None, *, grace_s=30) -> list[str]``,
``expire_claims(session, now, lease_s) -> int``
    Running tasks with a stale heartbeat / past ``execution_timeout`` fail like a failure report
    (retried if tries remain); claims on queued tasks older than the lease are released.

``next_run_info(dag, after, *, now=None) -> NextRun | None``
    The next time-based run (``logical_date``, ``data_interval``, ``run_after``) after the run
    whose ``run_after`` is ``after`` (Airflow 3 trigger-timetable semantics; see ``schedules``).

A task instance's start and its leases
======================================

Imported from their modules: ``handout`` (claim queued task instances for a worker, start the
ones it runs at once, give back what it never gets; the Execution API describes the workloads),
``starting.start_task`` (queued → running, counting the try), ``heartbeats.record_heartbeat``,
``tries`` (which try a start runs; whether a message about a try still concerns the row) and
``leases`` (acquire, renew, release, expire and fence leased rows: task claims, callbacks).

Learning what was queued
========================

``schedule_run`` returns the ids it queued; ``finish_task`` returns only the state. Either way,
every id
queued in a session is announced **after that session commits** to the listeners registered with
``add_queue_listener(fn)`` (``fn(ti_ids: tuple[str, ...])``; thread-safe; dropped on rollback).
An Execution API process registers one listener that wakes its long-polls.

``clear_task_instances(session, dag_id, run_id, dag_cache, now, *, task_ids=None, map_indexes=None,
upstream=False, downstream=False, only_failed=False, dry_run=False) -> RunChange``
    Give task instances of a run back no state so they run again (``airlock.scheduling.clearing``).
``mark_task_instances(..., state, dag_cache, now, *, task_ids, ...)``, ``mark_run(..., state, now)``
    Set a task instance's or a run's outcome by hand (``airlock.scheduling.marking``). Raise
    ``DagRunNotFound`` (404) / ``TaskNotInDag`` (400).

``create_asset_event(session, asset_id, *, source, extra=None, dedup_key=None, now)``
    Store an event pushed from outside (same ``dedup_key`` for the same asset: the stored event,
    ``created=False``) and queue it for the asset's consumers (``airlock.scheduling.assets``);
    a task's outlet events are stored by ``finish_task`` itself.
``claim_missed_deadlines(session, now) -> int``
    Claim deadline alerts that passed (once, whatever the number of schedulers) and queue their
    callbacks; runs record theirs when created and cancel them when they end
    (``airlock.scheduling.deadlines``). Callback requests are leased and their outcomes recorded
    by ``airlock.scheduling.callback_queue``.
``create_asset_triggered_runs(session, dag_cache, now, *, limit=50) -> list[DagRun]``
    Runs of consumer DAGs whose asset condition the queued events satisfy, consuming them
    (``airlock.scheduling.asset_runs``).

Concurrency
===========

Each pass locks its run first (an ``UPDATE`` of ``dag_run.last_scheduling_decision``: the row lock
on PostgreSQL, the write lock on SQLite); state changes are conditional updates; pool rows are
locked (PostgreSQL) while slots are counted. Several schedulers and API servers may run at once.
"""

from airlock.scheduling.asset_runs import create_asset_triggered_runs
from airlock.scheduling.assets import create_asset_event
from airlock.scheduling.clearing import (
    AffectedTask,
    DagRunNotFound,
    RunChange,
    clear_task_instances,
)
from airlock.scheduling.dag_cache import DagCache
from airlock.scheduling.deadlines import claim_missed as claim_missed_deadlines
from airlock.scheduling.errors import (
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
from airlock.scheduling.housekeeping import expire_claims, fail_timed_out, fail_zombies
from airlock.scheduling.listeners import add_queue_listener, remove_queue_listener
from airlock.scheduling.locking import try_lock_run
from airlock.scheduling.marking import mark_run, mark_task_instances
from airlock.scheduling.queueing import queue_scheduled
from airlock.scheduling.run_pass import ScheduleResult, needs_scheduling, schedule_run
from airlock.scheduling.runs import create_dag_run
from airlock.scheduling.schedules import DataInterval, NextRun, next_run_info
from airlock.scheduling.trigger_rules import Decision, UpstreamCounts, decide

__all__ = [
    "AffectedTask",
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
    "decide",
    "expire_claims",
    "fail_timed_out",
    "fail_zombies",
    "finish_task",
    "finish_tasks",
    "mark_run",
    "mark_task_instances",
    "needs_scheduling",
    "next_run_info",
    "queue_scheduled",
    "remove_queue_listener",
    "retry_delay_s",
    "schedule_run",
    "try_lock_run",
]
