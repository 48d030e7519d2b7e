"""Payloads of the Web API that the CLI and other clients share (runs, task instances, logs)."""

from __future__ import annotations

from typing import Any

import msgspec

from airlock.models.states import DagRunState, TaskInstanceState
from airlock.models.types import AwareDatetime
from airlock.models.web_triggers import TriggerView


class DagRunCreate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    run_id: str | None = None
    conf: dict[str, Any] = msgspec.field(default_factory=dict)
    logical_date: AwareDatetime | None = None
    note: str | None = None


class DagRunView(msgspec.Struct, kw_only=True, frozen=True):
    dag_id: str
    run_id: str
    state: DagRunState
    run_type: str
    dag_version_id: int
    dag_version_number: int | None = None
    logical_date: AwareDatetime | None = None
    data_interval_start: AwareDatetime | None = None
    data_interval_end: AwareDatetime | None = None
    run_after: AwareDatetime | None = None
    queued_at: AwareDatetime | None = None
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    conf: dict[str, Any] = msgspec.field(default_factory=dict)
    note: str | None = None
    triggered_by: str | None = None


class TaskInstanceView(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    task_id: str
    map_index: int
    state: TaskInstanceState | None
    try_number: int
    max_tries: int
    operator: str | None = None
    queued_at: AwareDatetime | None = None
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    duration: float | None = None
    hostname: str | None = None
    dag_id: str | None = None
    run_id: str | None = None
    pool: str | None = None
    pool_slots: int | None = None
    queue: str | None = None
    priority_weight: int | None = None
    dag_version_id: int | None = None
    #: Why the control plane last changed the state on its own (a missed heartbeat, a timeout,
    #: a person marking or clearing it); None once a new try starts.
    state_reason: str | None = None


class TaskInstanceList(msgspec.Struct, kw_only=True, frozen=True):
    """A page of task instances: of one run, or across runs (``dag_id``/``run_id`` ``"~"``)."""

    dag_id: str
    run_id: str
    #: The run's state when the list is of one run.
    run_state: DagRunState | None = None
    task_instances: list[TaskInstanceView]
    #: How many task instances match (all pages).
    total_entries: int = 0


class LogPage(msgspec.Struct, kw_only=True, frozen=True):
    """Log lines after ``cursor``; pass ``next_cursor`` back to follow the log."""

    task_id: str
    try_number: int
    lines: list[str]
    next_cursor: int
    #: True once the try has ended and every line is in.
    complete: bool


class DagRunCollection(msgspec.Struct, kw_only=True, frozen=True):
    dag_runs: list[DagRunView]
    total_entries: int


class DagRunPatch(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Mark a run ``success`` or ``failed``, and/or replace its note (``""`` removes it)."""

    state: DagRunState | None = None
    note: str | None = None


class DagRunClear(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Clear a run's task instances so they run again. As in Airflow, ``dry_run`` is the default:
    the answer lists what would be cleared; send ``"dry_run": false`` to do it."""

    dry_run: bool = True
    only_failed: bool = False


class AffectedTaskInstance(msgspec.Struct, kw_only=True, frozen=True):
    """A task instance a clear or a mark applied to, with the state it had before."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    state: TaskInstanceState | None


class ClearResult(msgspec.Struct, kw_only=True, frozen=True):
    dry_run: bool
    task_instances: list[AffectedTaskInstance]
    total_entries: int
    #: The run after the change (absent for a dry run of several runs).
    dag_run: DagRunView | None = None


class ClearTaskInstances(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Clear tasks of one run (``dag_run_id``); ``task_ids`` empty means every task."""

    dag_run_id: str
    task_ids: list[str] = msgspec.field(default_factory=list)
    map_indexes: list[int] | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    only_failed: bool = False
    dry_run: bool = True


class TaskInstancePatch(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Mark a task instance ``success``, ``failed`` or ``skipped`` (and, on request, its up- or
    downstream tasks in the run)."""

    new_state: TaskInstanceState
    include_upstream: bool = False
    include_downstream: bool = False
    dry_run: bool = False


class TaskInstanceTry(msgspec.Struct, kw_only=True, frozen=True):
    """One try of a task instance: finished ones from the history, the current one live."""

    try_number: int
    state: TaskInstanceState | None
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    duration: float | None = None
    hostname: str | None = None
    dag_version_id: int | None = None
    #: Why the control plane ended this try, when it did (not its runner).
    state_reason: str | None = None


class TaskInstanceDetail(msgspec.Struct, kw_only=True, frozen=True):
    task_instance: TaskInstanceView
    tries: list[TaskInstanceTry]
    #: What a deferred task waits for (its trigger, lease holder, since when).
    trigger: TriggerView | None = None
