"""Payloads of the Web API that the CLI and other clients share (runs, task instances, logs)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from airlock.models.states import DagRunState, TaskInstanceState


class DagRunCreate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    run_id: str | None = None
    conf: dict[str, Any] = msgspec.field(default_factory=dict)
    logical_date: dt.datetime | None = None
    note: str | None = None


class DagRunView(msgspec.Struct, kw_only=True, frozen=True):
    dag_id: str
    run_id: str
    state: DagRunState
    run_type: str
    dag_version_id: int
    dag_version_number: int | None = None
    logical_date: dt.datetime | None = None
    data_interval_start: dt.datetime | None = None
    data_interval_end: dt.datetime | None = None
    run_after: dt.datetime | None = None
    queued_at: dt.datetime | None = None
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
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
    queued_at: dt.datetime | None = None
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    duration: float | None = None
    hostname: str | None = None


class TaskInstanceList(msgspec.Struct, kw_only=True, frozen=True):
    dag_id: str
    run_id: str
    run_state: DagRunState
    task_instances: list[TaskInstanceView]


class LogPage(msgspec.Struct, kw_only=True, frozen=True):
    """Log lines after ``cursor``; pass ``next_cursor`` back to follow the log."""

    task_id: str
    try_number: int
    lines: list[str]
    next_cursor: int
    #: True once the try has ended and every line is in.
    complete: bool
