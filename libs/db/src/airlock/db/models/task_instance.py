"""Task instances (one row per task per run per map index) and the history of their tries.

A task instance's ``id`` is a UUIDv7 string (:func:`airlock.db.ids.new_task_instance_id`): it is
what task tokens name as their subject, so it is stable across tries. ``try_number`` counts the
tries started; when a try ends, one :class:`TaskInstanceHistory` row records it.

``next_method``/``next_kwargs`` say how to resume a task that deferred; ``next_retry_at`` when a
task that is up for retry may be scheduled again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from airlock.db.base import ID_LENGTH, Base, StrEnumString, UtcDateTime
from airlock.db.ids import new_task_instance_id
from airlock.models.states import TaskInstanceState

UUID_LENGTH = 36


class TaskInstance(Base):
    __tablename__ = "task_instance"
    __table_args__ = (
        # Its index also serves lookups by (dag_id, run_id): all task instances of a run.
        UniqueConstraint("dag_id", "run_id", "task_id", "map_index"),
        ForeignKeyConstraint(
            ["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"
        ),
        # Workload hand-out: queued tasks of a queue by priority.
        Index(None, "state", "queue", "priority_weight"),
        # Pool slot accounting: running/queued tasks per pool.
        Index(None, "pool", "state"),
        # Heartbeat timeouts: running tasks whose heartbeat is old.
        Index(None, "state", "last_heartbeat_at"),
    )

    id: Mapped[str] = mapped_column(
        String(UUID_LENGTH), primary_key=True, default=new_task_instance_id
    )
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    map_index: Mapped[int] = mapped_column(Integer, default=-1)
    try_number: Mapped[int] = mapped_column(Integer, default=0)
    max_tries: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[TaskInstanceState | None] = mapped_column(StrEnumString(TaskInstanceState))
    pool: Mapped[str] = mapped_column(String(ID_LENGTH), default="default_pool")
    pool_slots: Mapped[int] = mapped_column(Integer, default=1)
    queue: Mapped[str] = mapped_column(String(ID_LENGTH), default="default")
    priority_weight: Mapped[int] = mapped_column(Integer, default=1)
    operator: Mapped[str | None] = mapped_column(String(1000))
    dag_version_id: Mapped[int] = mapped_column(Integer, ForeignKey("dag_version.id"))
    queued_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    start_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    end_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    duration: Mapped[float | None] = mapped_column(Float)
    hostname: Mapped[str | None] = mapped_column(String(1000))
    pid: Mapped[int | None] = mapped_column(Integer)
    last_heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    next_retry_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    next_method: Mapped[str | None] = mapped_column(String(1000))
    next_kwargs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The worker that took this queued task from the Execution API, and when (a lease: a
    #: claimed task that never starts running is handed out again after the lease expires).
    claimed_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    #: How many times this task instance was claimed: a claim's fencing token
    #: (``airlock.scheduling.leases``), so a worker whose claim moved on cannot give it back.
    claim_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When a reschedule-mode sensor first poked; its timeout counts from here.
    first_poke_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    #: Why the control plane last changed the state on its own (``airlock.scheduling.reasons``);
    #: cleared when a try starts.
    state_reason: Mapped[str | None] = mapped_column(Text)


class TaskInstanceHistory(Base):
    """One finished try of a task instance."""

    __tablename__ = "task_instance_history"
    __table_args__ = (UniqueConstraint("task_instance_id", "try_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_instance_id: Mapped[str] = mapped_column(
        String(UUID_LENGTH), ForeignKey("task_instance.id", ondelete="CASCADE")
    )
    try_number: Mapped[int] = mapped_column(Integer)
    state: Mapped[TaskInstanceState | None] = mapped_column(StrEnumString(TaskInstanceState))
    dag_version_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("dag_version.id"))
    start_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    end_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    duration: Mapped[float | None] = mapped_column(Float)
    hostname: Mapped[str | None] = mapped_column(String(1000))
    #: Why the control plane ended this try (a missed heartbeat, a timeout, a person).
    state_reason: Mapped[str | None] = mapped_column(Text)
