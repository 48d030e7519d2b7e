"""Assets, their events, which DAGs reference them, and the events waiting for a consumer's run.

An :class:`Asset` is global and known by its URI (two bundles naming the same URI name the same
asset). It is created the first time a stored DAG version references it, or the first time a
task reports an event for it.

References are rewritten whenever a new version of a DAG is stored (DESIGN §4.1):
:class:`DagScheduleAsset` rows say which DAGs are *scheduled on* an asset (its consumers),
:class:`DagScheduleAssetName` rows which are scheduled on assets by name only, and
:class:`TaskOutletAsset` rows which tasks *update* it (its producers).

An :class:`AssetEvent` records one update: by a task (``source_*`` columns name the task
instance), pushed from outside through the Web API (``source`` is ``api:<user>``) or a webhook
receiver (``receiver:<name>``), or a run's end (``completion``). A pushed event may carry a
``dedup_key``, unique per asset, so a retried POST does not make a second event.

Every new event is queued for each consumer of its asset as an :class:`AssetDagRunQueue` row;
the scheduler creates a consumer's run once the queued events satisfy its asset condition, and
deletes the rows it consumed. :class:`DagRunAssetEvent` keeps which events triggered which run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from airlock.db.base import ID_LENGTH, Base, UtcDateTime, utcnow

#: Longest asset URI, name or group (Airflow's bound).
ASSET_TEXT_LENGTH = 1500


class Asset(Base):
    __tablename__ = "asset"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(ASSET_TEXT_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(ASSET_TEXT_LENGTH), index=True)
    group: Mapped[str] = mapped_column(String(ASSET_TEXT_LENGTH), default="asset")
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class AssetEvent(Base):
    __tablename__ = "asset_event"
    __table_args__ = (
        # NULL keys never collide: only pushed events that carry a key are deduplicated.
        UniqueConstraint("asset_id", "dedup_key"),
        Index(None, "asset_id", "timestamp"),
        Index(None, "source_dag_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asset_id: Mapped[int] = mapped_column(Integer, ForeignKey("asset.id", ondelete="CASCADE"))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: "task" for an outlet's event, "api:<user>" for one pushed through the Web API,
    #: "receiver:<name>" for a webhook's, "completion" for a run's end.
    source: Mapped[str] = mapped_column(String(ID_LENGTH))
    source_task_instance_id: Mapped[str | None] = mapped_column(String(36))
    source_dag_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    source_run_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    source_task_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    source_map_index: Mapped[int | None] = mapped_column(Integer)
    dedup_key: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    timestamp: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DagScheduleAsset(Base):
    """``dag_id`` is scheduled on ``asset_id`` (appears in its asset condition)."""

    __tablename__ = "dag_schedule_asset"
    __table_args__ = (Index(None, "dag_id"),)

    asset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True
    )
    dag_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DagScheduleAssetName(Base):
    """``dag_id`` is scheduled on the assets called ``name`` (``Asset.ref(name=...)``), whatever
    their URI and whenever they appear: matched by name when an event is queued."""

    __tablename__ = "dag_schedule_asset_name"
    __table_args__ = (Index(None, "name"),)

    dag_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(ASSET_TEXT_LENGTH), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class TaskOutletAsset(Base):
    """Task ``task_id`` of ``dag_id`` names ``asset_id`` among its outlets."""

    __tablename__ = "task_outlet_asset"
    __table_args__ = (Index(None, "dag_id"),)

    asset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True
    )
    dag_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class AssetDagRunQueue(Base):
    """An event not yet consumed by a run of ``target_dag_id`` (one of its asset's consumers)."""

    __tablename__ = "asset_dag_run_queue"
    __table_args__ = (Index(None, "target_dag_id"),)

    event_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("asset_event.id", ondelete="CASCADE"), primary_key=True
    )
    target_dag_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )
    #: The event's asset, so a consumer's condition is checked without joining the events.
    asset_id: Mapped[int] = mapped_column(Integer, ForeignKey("asset.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DagRunAssetEvent(Base):
    """Asset event ``event_id`` triggered (was consumed by) run ``dag_run_id``."""

    __tablename__ = "dag_run_asset_event"

    dag_run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("dag_run.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("asset_event.id", ondelete="CASCADE"), primary_key=True, index=True
    )
