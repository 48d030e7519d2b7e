"""DAGs, their immutable versions, and the source files they came from.

A :class:`Dag` row is the current, mutable view of a DAG (paused?, next run, latest version).
Every distinct serialized form the DAG processor uploads becomes a new :class:`DagVersion`
(numbered 1, 2, 3, … per DAG); an upload whose hash matches an existing version of that DAG is a
no-op, which is what makes the upload idempotent. The version's ``blob`` is the zstd-compressed
msgspec JSON exactly as uploaded: the server never decodes it to store it, and can serve it as is
to a client that accepts zstd (DESIGN §7).

:class:`DagSource` keeps the text of DAG files keyed by the SHA-256 of their bytes, the same
hash the processor reports for the file (``bundle_file.content_hash``), so a file shared by many
DAGs or unchanged across many versions is stored once. Versions point at it by ``source_hash``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from airlock.db.base import HASH_LENGTH, ID_LENGTH, Base, UtcDateTime, utcnow


class Dag(Base):
    __tablename__ = "dag"
    __table_args__ = (
        # The scheduler's "which DAGs are due" query.
        Index(None, "is_paused", "is_stale", "next_dagrun_create_after"),
    )

    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    bundle_name: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("bundle.name"), index=True
    )
    fileloc: Mapped[str] = mapped_column(Text)
    relative_fileloc: Mapped[str] = mapped_column(Text)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The DAG vanished from its bundle; kept for its history, never scheduled.
    is_stale: Mapped[bool] = mapped_column(Boolean, default=False)
    has_import_errors: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    owners: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The schedule as the author wrote it (cron, "@daily", a timedelta, an asset expression…).
    schedule: Mapped[str | None] = mapped_column(Text)
    timetable_summary: Mapped[str | None] = mapped_column(Text)
    max_active_runs: Mapped[int] = mapped_column(Integer, default=16)
    max_active_tasks: Mapped[int] = mapped_column(Integer, default=16)
    catchup: Mapped[bool] = mapped_column(Boolean, default=False)
    next_dagrun: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    next_dagrun_data_interval_start: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    next_dagrun_data_interval_end: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    next_dagrun_create_after: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    #: A timetable written in Python: the ``ListedRuns`` of the latest parse, as JSON (outside
    #: the versions, whose blob names only the timetable and its arguments).
    listed_runs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_parsed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    dag_display_name: Mapped[str | None] = mapped_column(String(2000))
    # use_alter: dag and dag_version reference each other; this side is added after both exist.
    latest_version_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("dag_version.id", ondelete="SET NULL", use_alter=True)
    )


class DagSource(Base):
    """The text of a DAG file, stored once per distinct content."""

    __tablename__ = "dag_source"

    content_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class DagVersion(Base):
    __tablename__ = "dag_version"
    __table_args__ = (
        UniqueConstraint("dag_id", "version_number"),
        UniqueConstraint("dag_id", "content_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("dag.dag_id", ondelete="CASCADE")
    )
    version_number: Mapped[int] = mapped_column(Integer)
    #: SHA-256 hex of the serialized DAG (before compression).
    content_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    #: zstd-compressed serialized DAG, opaque to the server.
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    blob_size: Mapped[int] = mapped_column(Integer)
    decompressed_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: The bundle that uploaded this version (kept even if the DAG later moves or goes).
    bundle_name: Mapped[str] = mapped_column(String(ID_LENGTH))
    source_hash: Mapped[str | None] = mapped_column(
        String(HASH_LENGTH), ForeignKey("dag_source.content_hash")
    )
