"""Payloads of the Internal API (DAG processor, triggerer, callback processor).

Identifiers and paths a client sends are constrained in their types (:mod:`airlock.models.types`),
so a ``relative_path`` like ``../x`` or ``/etc/passwd`` or an odd ``dag_id`` is a 422 naming the
field before anything is stored.
"""

from __future__ import annotations

import msgspec

from airlock.models.dag import ListedRuns
from airlock.models.types import AwareDatetime, BundlePath, Identifier


class BundleFileInfo(msgspec.Struct, kw_only=True, frozen=True):
    """What the server holds for one file of a bundle."""

    relative_path: str
    content_hash: str
    last_parsed_at: AwareDatetime
    dag_ids: list[str] = msgspec.field(default_factory=list)


class BundleFilesPage(msgspec.Struct, kw_only=True, frozen=True):
    """One page of a bundle's files, ordered by path; pass ``next_after`` to get the next."""

    bundle: str
    files: list[BundleFileInfo]
    next_after: str | None = None


class DagMetadata(msgspec.Struct, kw_only=True, frozen=True):
    """The few facts about a DAG the server keeps in columns, for lists and scheduling queries.

    Everything else stays inside the opaque blob.
    """

    dag_id: Identifier
    fileloc: str
    relative_fileloc: BundlePath
    schedule: str | None = None
    timetable_summary: str | None = None
    description: str | None = None
    dag_display_name: str | None = None
    owners: list[str] = msgspec.field(default_factory=list)
    tags: list[str] = msgspec.field(default_factory=list)
    max_active_runs: int = 16
    max_active_tasks: int = 16
    catchup: bool = False
    is_paused_upon_creation: bool | None = None
    #: For a timetable written in Python, the runs listed at this parse (version 2026-12-09);
    #: kept on the DAG's row, outside the versioned blob.
    listed_runs: ListedRuns | None = None


class DagUpload(msgspec.Struct, kw_only=True, frozen=True):
    metadata: DagMetadata
    #: SHA-256 hex of the serialized DAG before compression: the version's identity.
    dag_hash: str
    #: The zstd frame (content size declared in its header) of the msgspec-JSON SerializedDag.
    blob: bytes


class ParsedFile(msgspec.Struct, kw_only=True, frozen=True):
    """The outcome of parsing one file: its DAGs, or the traceback that stopped it."""

    relative_path: BundlePath
    #: SHA-256 hex of the file's bytes.
    content_hash: str
    dags: list[DagUpload] = msgspec.field(default_factory=list)
    import_error: str | None = None
    #: The file's text, stored once per content hash so any DAG version can show its source.
    source: str | None = None


class BundleSync(msgspec.Struct, kw_only=True, frozen=True):
    """One batch from the DAG processor: parsed files and files that are gone."""

    files: list[ParsedFile] = msgspec.field(default_factory=list)
    deleted_files: list[BundlePath] = msgspec.field(default_factory=list)


class DagSyncResult(msgspec.Struct, kw_only=True, frozen=True):
    dag_id: str
    relative_path: str
    #: "created" (a new version), "unchanged" (same hash) or "rejected" (see ``reason``).
    outcome: str
    version_number: int | None = None
    reason: str | None = None


class BundleSyncResult(msgspec.Struct, kw_only=True, frozen=True):
    bundle: str
    dags: list[DagSyncResult]
    import_errors: int
    stale_dags: list[str]
