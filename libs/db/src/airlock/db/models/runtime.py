"""What running Airlock leaves behind besides DAGs and runs: task logs, worker and component
heartbeats, and the durable queue of callbacks.

- :class:`LogChunk` rows hold task log lines in batches, as the worker ships them, ordered by
  ``seq`` within one try.
- :class:`Worker` and :class:`ComponentHeartbeat` say who is alive (health, zombie detection).
- :class:`DagRunDeadline` is a deadline alert of one run: pending until the run ends (cancelled)
  or the deadline passes (missed, claimed once, its callback queued).
- :class:`CallbackRequest` is a callback waiting for the callback processor. It is *leased*
  (``leased_by``, ``lease_expires_at``), run, then marked done; an expired lease makes it
  available again: at-least-once, never lost (DESIGN §4.4).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from airlock.db.base import ID_LENGTH, Base, UtcDateTime, utcnow


class LogChunk(Base):
    __tablename__ = "log_chunk"
    __table_args__ = (Index(None, "task_instance_id", "try_number", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_instance_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("task_instance.id", ondelete="CASCADE")
    )
    try_number: Mapped[int] = mapped_column(Integer)
    #: Order of the batch within the try, as numbered by the sender (duplicates are ignored).
    seq: Mapped[int] = mapped_column(Integer)
    #: The batch's lines joined by newlines.
    lines: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Worker(Base):
    __tablename__ = "worker"

    name: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    queues: Mapped[list[str]] = mapped_column(JSON, default=list)
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_heartbeat_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ComponentHeartbeat(Base):
    """The last sign of life of a scheduler, DAG processor, triggerer or callback processor."""

    __tablename__ = "component_heartbeat"

    kind: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_heartbeat_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CallbackRequest(Base):
    __tablename__ = "callback_request"
    __table_args__ = (
        Index(None, "done_at", "lease_expires_at"),
        Index(None, "dag_id", "run_id"),
        Index(None, "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: dag_success, dag_failure, task_success, task_failure, task_retry, task_skipped,
    #: task_execute, deadline
    kind: Mapped[str] = mapped_column(String(50))
    bundle_name: Mapped[str] = mapped_column(String(ID_LENGTH))
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    task_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    map_index: Mapped[int] = mapped_column(Integer, default=-1)
    try_number: Mapped[int | None] = mapped_column(Integer)
    dag_version_id: Mapped[int | None] = mapped_column(Integer)
    #: What the callback needs to know (the run's state, the error message, ...).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    leased_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    #: How many times the row was leased: the lease's fencing token (``airlock.scheduling.leases``).
    lease_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: How many times it was leased to run; the attempt number a callback sees.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Set when it ran (``success``) or was dead-lettered (``dead``): no longer leased.
    done_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    #: queued, running, retrying (failed, waiting for ``next_attempt_at``), success, dead.
    state: Mapped[str] = mapped_column(String(20), default="queued", server_default="queued")
    #: Attempts before a failing callback is dead-lettered.
    max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    #: A failed callback is not leased again before this (its backoff).
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    #: When it was first leased: ``first_started_at - created_at`` is its dispatch latency.
    first_started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: What the callback printed and logged in its latest attempt.
    log: Mapped[str | None] = mapped_column(Text)


class DagRunDeadline(Base):
    __tablename__ = "dag_run_deadline"
    __table_args__ = (Index(None, "state", "deadline_at"), Index(None, "dag_id", "run_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    #: Which of the DAG's ``deadline`` alerts (its position in the list).
    alert_index: Mapped[int] = mapped_column(Integer)
    deadline_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    #: pending, missed (its callback is queued) or cancelled (the run ended first).
    state: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
