"""DAG runs: one execution of a DAG, pinned to the DAG version it was created with.

``run_after`` is when the run may start (for a scheduled run, the end of its data interval);
``logical_date`` is the date the run is "for" and may be empty (manual and asset-triggered runs
need not have one). Runs are always shown with ``dag_version_id`` (DESIGN §4.6).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from airlock.db.base import ID_LENGTH, Base, StrEnumString, UtcDateTime, utcnow
from airlock.models.states import DagRunState, DagRunType


class DagRun(Base):
    __tablename__ = "dag_run"
    __table_args__ = (
        UniqueConstraint("dag_id", "run_id"),
        Index(None, "dag_id", "state"),
        Index(None, "state"),
        # "latest runs of this DAG" in the web API and max_active_runs checks.
        Index(None, "dag_id", "run_after"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("dag.dag_id", ondelete="CASCADE")
    )
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    dag_version_id: Mapped[int] = mapped_column(Integer, ForeignKey("dag_version.id"))
    logical_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    data_interval_start: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    data_interval_end: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    run_after: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    run_type: Mapped[DagRunType] = mapped_column(StrEnumString(DagRunType))
    state: Mapped[DagRunState] = mapped_column(
        StrEnumString(DagRunState), default=DagRunState.QUEUED
    )
    queued_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=utcnow)
    start_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    end_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    #: When the scheduler last examined this run; it visits the least recently seen first.
    last_scheduling_decision: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    conf: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    #: Who or what made the run: "scheduler", "user:alice", "asset", "backfill", …
    triggered_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    #: The W3C ``traceparent`` of the request that created the run, whose trace the run's spans
    #: continue; empty: the run's trace id is derived from its ids (ADR 0024).
    trace_parent: Mapped[str | None] = mapped_column(String(55))
