"""Apply one DAG-processor batch to the DB (DESIGN §4.1), in one transaction.

The rules:
- A blob is checked (zstd frame header, declared size, size caps) and stored as is, never decoded.
- A DAG hash never seen for that DAG makes a new version; a known hash makes none.
- A DAG id owned by another bundle, or by another live file of this bundle, is an import error for
  the newcomer, never an overwrite.
- A file that fails to import keeps its DAGs at their last good version (flagged
  ``has_import_errors``); DAGs that vanish from a file that did parse, or whose file was deleted,
  become stale.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from airlock.core.http import Problem
from airlock.db import Bundle, BundleFile, Dag, DagSource, DagVersion, ParseImportError
from airlock.models.codec import CodecError, PayloadTooLarge, check_frame
from airlock.models.internal import (
    BundleSync,
    BundleSyncResult,
    DagSyncResult,
    DagUpload,
    ParsedFile,
)


def check_blobs(
    batch: BundleSync, *, max_blob_bytes: int, max_decompressed_bytes: int
) -> dict[str, int]:
    """Declared decompressed size of every blob; a bad one fails the whole batch, naming it."""
    sizes: dict[str, int] = {}
    for file in batch.files:
        for upload in file.dags:
            where = f"DAG {upload.metadata.dag_id!r} from {file.relative_path}"
            if len(upload.blob) > max_blob_bytes:
                raise Problem(
                    413,
                    f"{where}: compressed blob is {len(upload.blob)} bytes, over the {max_blob_bytes}-byte limit",
                    slug="dag-too-large",
                )
            try:
                sizes[upload.dag_hash] = check_frame(upload.blob, max_decompressed_bytes)
            except PayloadTooLarge as exc:
                raise Problem(413, f"{where}: {exc}", slug="dag-too-large") from None
            except CodecError as exc:
                raise Problem(
                    422, f"{where}: blob is not a valid zstd frame: {exc}", slug="corrupt-dag-blob"
                ) from None
            if len(upload.dag_hash) != 64:
                raise Problem(
                    422,
                    f"{where}: dag_hash must be 64 hex characters (SHA-256)",
                    slug="invalid-body",
                )
    return sizes


def sync_bundle(
    session: Session, bundle: str, batch: BundleSync, sizes: dict[str, int]
) -> BundleSyncResult:
    now = dt.datetime.now(dt.UTC)
    bundle_row = session.get(Bundle, bundle) or Bundle(name=bundle)
    bundle_row.last_parsed_at = now
    session.add(bundle_row)
    session.flush()
    results: list[DagSyncResult] = []
    stale: list[str] = []
    error_count = 0
    for file in batch.files:
        outcomes, file_stale, has_error = _apply_file(session, bundle, file, sizes, now)
        results += outcomes
        stale += file_stale
        error_count += has_error
    for path in batch.deleted_files:
        stale += _forget_file(session, bundle, path)
    session.commit()
    return BundleSyncResult(
        bundle=bundle, dags=results, import_errors=error_count, stale_dags=sorted(stale)
    )


def _apply_file(
    session: Session,
    bundle: str,
    file: ParsedFile,
    sizes: dict[str, int],
    now: dt.datetime,
) -> tuple[list[DagSyncResult], list[str], bool]:
    previous = session.get(BundleFile, (bundle, file.relative_path))
    old_ids = list(previous.dag_ids) if previous else []
    if file.source is not None and session.get(DagSource, file.content_hash) is None:
        session.add(DagSource(content_hash=file.content_hash, source=file.source))
        session.flush()
    outcomes = [_upsert_dag(session, bundle, file, upload, sizes, now) for upload in file.dags]
    accepted = [o.dag_id for o in outcomes if o.outcome != "rejected"]
    problems = [file.import_error] if file.import_error else []
    problems += [o.reason for o in outcomes if o.outcome == "rejected" and o.reason]
    _set_import_error(session, bundle, file.relative_path, "\n\n".join(problems) or None, now)
    if file.import_error and not file.dags:
        # A broken file keeps its DAGs at their last good version until it parses again.
        kept = old_ids
        session.execute(
            update(Dag)
            .where(Dag.dag_id.in_(kept), Dag.bundle_name == bundle)
            .values(has_import_errors=True)
        )
        stale: list[str] = []
    else:
        kept = accepted
        stale = _mark_stale(session, bundle, file.relative_path, set(old_ids) - set(accepted))
    row = previous or BundleFile(bundle_name=bundle, relative_path=file.relative_path)
    row.content_hash = file.content_hash
    row.last_parsed_at = now
    row.dag_ids = sorted(kept)
    session.add(row)
    session.flush()
    return outcomes, stale, bool(problems)


def _upsert_dag(
    session: Session,
    bundle: str,
    file: ParsedFile,
    upload: DagUpload,
    sizes: dict[str, int],
    now: dt.datetime,
) -> DagSyncResult:
    meta = upload.metadata
    dag = session.get(Dag, meta.dag_id)
    if dag is not None and (
        reason := _ownership_conflict(session, bundle, file.relative_path, dag)
    ):
        return DagSyncResult(
            dag_id=meta.dag_id, relative_path=file.relative_path, outcome="rejected", reason=reason
        )
    if dag is None:
        dag = Dag(
            dag_id=meta.dag_id, bundle_name=bundle, is_paused=bool(meta.is_paused_upon_creation)
        )
    dag.fileloc = meta.fileloc
    dag.relative_fileloc = file.relative_path
    dag.schedule = meta.schedule
    dag.timetable_summary = meta.timetable_summary
    dag.description = meta.description
    dag.dag_display_name = meta.dag_display_name
    dag.owners = list(meta.owners)
    dag.tags = list(meta.tags)
    dag.max_active_runs = meta.max_active_runs
    dag.max_active_tasks = meta.max_active_tasks
    dag.catchup = meta.catchup
    dag.is_stale = False
    dag.has_import_errors = False
    dag.last_parsed_at = now
    session.add(dag)
    session.flush()
    version = session.scalar(
        select(DagVersion).where(
            DagVersion.dag_id == meta.dag_id, DagVersion.content_hash == upload.dag_hash
        )
    )
    outcome = "unchanged"
    if version is None:
        number = session.scalar(
            select(func.max(DagVersion.version_number)).where(DagVersion.dag_id == meta.dag_id)
        )
        version = DagVersion(
            dag_id=meta.dag_id,
            version_number=(number or 0) + 1,
            content_hash=upload.dag_hash,
            blob=upload.blob,
            blob_size=len(upload.blob),
            decompressed_size=sizes[upload.dag_hash],
            bundle_name=bundle,
            source_hash=file.content_hash if session.get(DagSource, file.content_hash) else None,
        )
        session.add(version)
        session.flush()
        outcome = "created"
    dag.latest_version_id = version.id
    return DagSyncResult(
        dag_id=meta.dag_id,
        relative_path=file.relative_path,
        outcome=outcome,
        version_number=version.version_number,
    )


def _ownership_conflict(session: Session, bundle: str, path: str, dag: Dag) -> str | None:
    if dag.bundle_name != bundle:
        return (
            f"DAG id {dag.dag_id!r} in {path} is already defined by bundle {dag.bundle_name!r} "
            f"({dag.relative_fileloc}); DAG ids must be unique across bundles, so rename one of them"
        )
    if dag.relative_fileloc != path and not dag.is_stale:
        other = session.get(BundleFile, (bundle, dag.relative_fileloc))
        if other is not None and dag.dag_id in other.dag_ids:
            return (
                f"DAG id {dag.dag_id!r} in {path} is already defined in {dag.relative_fileloc} of this "
                "bundle; rename one of them"
            )
    return None


def _set_import_error(
    session: Session, bundle: str, path: str, message: str | None, now: dt.datetime
) -> None:
    row = session.scalar(
        select(ParseImportError).where(
            ParseImportError.bundle_name == bundle, ParseImportError.filename == path
        )
    )
    if message is None:
        if row is not None:
            session.delete(row)
        return
    row = row or ParseImportError(bundle_name=bundle, filename=path)
    row.stacktrace = message
    row.timestamp = now
    session.add(row)


def _mark_stale(session: Session, bundle: str, path: str, dag_ids: set[str]) -> list[str]:
    if not dag_ids:
        return []
    moved = session.scalars(
        update(Dag)
        .where(Dag.dag_id.in_(dag_ids), Dag.bundle_name == bundle, Dag.relative_fileloc == path)
        .values(is_stale=True)
        .returning(Dag.dag_id)
    ).all()
    return list(moved)


def _forget_file(session: Session, bundle: str, path: str) -> list[str]:
    row = session.get(BundleFile, (bundle, path))
    stale = _mark_stale(session, bundle, path, set(row.dag_ids)) if row else []
    if row is not None:
        session.delete(row)
    session.execute(
        delete(ParseImportError).where(
            ParseImportError.bundle_name == bundle, ParseImportError.filename == path
        )
    )
    return stale
