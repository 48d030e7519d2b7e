"""Asset watchers: event triggers that turn an external system's events into asset events
(DESIGN §4.5), run by a triggerer under a lease.

One :class:`AssetWatcher` row per ``(dag_id, asset, name)`` a stored DAG version declares
(``Asset(..., watchers=[AssetWatcher(name, trigger)])`` in its schedule). The row is rewritten when
a new version of the DAG is stored: unchanged watchers keep their row, and so their lease and
status; a changed trigger is a new row. ``classpath`` and ``kwargs`` are data the control plane
stores and hands out, never imports.

A triggerer leases the row (``triggerer``, ``lease_expires_at``, ``lease_epoch``: the fencing
token, ``airlock.scheduling.leases``) and runs the trigger for as long as it holds it; a dead
triggerer's watchers are taken over by another. The status columns are what the holder last
reported: ``state`` (running / reconnecting / failed), ``lag`` (messages waiting at the source,
when the source says), ``last_error`` and when the last event was stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from airlock.db.base import ID_LENGTH, Base, UtcDateTime, utcnow


class AssetWatcher(Base):
    __tablename__ = "asset_watcher"
    __table_args__ = (
        UniqueConstraint("dag_id", "asset_id", "name"),
        Index(None, "asset_id"),
        Index(None, "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("dag.dag_id", ondelete="CASCADE")
    )
    asset_id: Mapped[int] = mapped_column(Integer, ForeignKey("asset.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(ID_LENGTH))
    classpath: Mapped[str] = mapped_column(String(1000))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    triggerer: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    lease_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: What the holder last reported: running, reconnecting or failed (NULL: never run yet).
    state: Mapped[str | None] = mapped_column(String(20))
    lag: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    status_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_event_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    events_stored: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
