"""What the control plane knows about each DAG bundle and the files in it.

The DAG processor asks ``GET /internal/bundles/{b}/files`` for :class:`BundleFile` rows (path →
content hash, last parse) to decide which files changed and must be parsed again (DESIGN §4.1).
A file that failed to import leaves a :class:`ParseImportError` instead of DAGs; the row goes away
when the file parses again or is deleted.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from airlock.db.base import HASH_LENGTH, ID_LENGTH, Base, UtcDateTime, utcnow

#: Longest relative path of a file inside a bundle (kept indexable on PostgreSQL).
PATH_LENGTH = 1024


class Bundle(Base):
    __tablename__ = "bundle"

    name: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(50), default="local")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_parsed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class BundleFile(Base):
    """One file of a bundle as last seen by the DAG processor."""

    __tablename__ = "bundle_file"

    bundle_name: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("bundle.name", ondelete="CASCADE"), primary_key=True
    )
    relative_path: Mapped[str] = mapped_column(String(PATH_LENGTH), primary_key=True)
    #: SHA-256 hex of the file's bytes; also the key of its text in ``dag_source``.
    content_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    last_parsed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: The DAG ids this file defined at its last parse (empty after an import error).
    dag_ids: Mapped[list[str]] = mapped_column(JSON, default=list)


class ParseImportError(Base):
    """The traceback of a bundle file that could not be imported (one row per file)."""

    __tablename__ = "import_error"
    __table_args__ = (UniqueConstraint("bundle_name", "filename"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bundle_name: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("bundle.name", ondelete="CASCADE")
    )
    #: The file's path relative to the bundle root.
    filename: Mapped[str] = mapped_column(String(PATH_LENGTH))
    stacktrace: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
