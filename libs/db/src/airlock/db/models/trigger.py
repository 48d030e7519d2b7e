"""Triggers: the async waits of deferred tasks, leased to triggerers (DESIGN §4.3, §8).

A :class:`Trigger` row is written when a task defers (one per task instance; a task that defers
again replaces it). Its ``classpath`` and ``kwargs`` are data the control plane stores and hands
out: it never imports or unpickles them. A triggerer leases the row (``triggerer``,
``lease_expires_at``, ``lease_epoch``: the fencing token, ``airlock.scheduling.leases``); the
first event resumes the task once and sets ``fired_at``. A row whose task instance is no longer
``deferred`` is cancelled: its holder runs ``cleanup()`` and the row goes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from airlock.db.base import ID_LENGTH, Base, UtcDateTime, utcnow


class Trigger(Base):
    __tablename__ = "trigger"
    __table_args__ = (Index(None, "lease_expires_at"), Index(None, "timeout_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_instance_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("task_instance.id", ondelete="CASCADE"), unique=True
    )
    classpath: Mapped[str] = mapped_column(String(1000))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: When the task fails if the trigger has not fired (``defer(timeout=…)``).
    timeout_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    triggerer: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    lease_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When an event (or a failure, or the timeout) resumed the task.
    fired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
