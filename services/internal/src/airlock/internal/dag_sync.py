"""Apply one DAG-processor batch to the DB (DESIGN §4.1), in one transaction.

The rules:
- Every blob's frame header is checked (zstd, declared size under the caps and plausible for its
  compressed size). A known hash for that DAG makes no version and is not decompressed.
- A hash never seen for that DAG is decompressed (the batch's total bounded), must hold exactly
  the bytes its ``dag_hash`` names, and is decoded and checked whole
  (:mod:`airlock.internal.dag_checks`) before it becomes a new version, stored as uploaded. A DAG
  that fails the check is an import error naming it; it keeps its last good version, and the
  rest of the batch is stored.
- A DAG id owned by another bundle, or by another live file of this bundle, is an import error for
  the newcomer, never an overwrite.
- A file that fails to import keeps its DAGs at their last good version (flagged
  ``has_import_errors``); DAGs that vanish from a file that did parse, or whose file was deleted,
  become stale.

DAG upload is a hot path (DESIGN §7): the batch is applied with a fixed number of set-based
statements, whatever its size — no query per DAG.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec
from sqlalchemy import delete, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from airlock.core.http import Problem
from airlock.core.settings import InternalSettings
from airlock.db import Bundle, BundleFile, Dag, DagSource, DagVersion, ParseImportError
from airlock.internal.asset_refs import record_references
from airlock.internal.dag_checks import InvalidDag, decode_and_check
from airlock.models.codec import CodecError, PayloadTooLarge, check_frame, decompress
from airlock.models.dag import SerializedDag
from airlock.models.internal import BundleSync, BundleSyncResult, DagSyncResult, DagUpload

#: Values per ``IN (…)`` of the statements that take a client's list (PostgreSQL carries at most
#: 65,535 parameters per statement; a pair costs two).
CHUNK = 10_000


@dataclass(frozen=True)
class BlobLimits:
    """What one upload may cost the server to read (``[internal]`` settings)."""

    max_blob_bytes: int
    max_decompressed_bytes: int
    max_batch_decompressed_bytes: int
    max_dag_tasks: int

    @classmethod
    def of(cls, settings: InternalSettings) -> BlobLimits:
        return cls(
            max_blob_bytes=settings.max_dag_blob_bytes,
            max_decompressed_bytes=settings.max_dag_decompressed_bytes,
            max_batch_decompressed_bytes=settings.max_batch_decompressed_bytes,
            max_dag_tasks=settings.max_dag_tasks,
        )


def check_blobs(batch: BundleSync, limits: BlobLimits) -> dict[str, int]:
    """Declared decompressed size of every blob, by hash, read from the frame headers only;
    a blob that is too large or not a plausible zstd frame fails the whole batch, naming it."""
    sizes: dict[str, int] = {}
    for file in batch.files:
        for upload in file.dags:
            where = _where(upload, file.relative_path)
            if len(upload.blob) > limits.max_blob_bytes:
                raise Problem(
                    413,
                    f"{where}: compressed blob is {len(upload.blob)} bytes, over the "
                    f"{limits.max_blob_bytes}-byte limit",
                    slug="dag-too-large",
                )
            try:
                sizes[upload.dag_hash] = check_frame(upload.blob, limits.max_decompressed_bytes)
            except PayloadTooLarge as exc:
                raise Problem(413, f"{where}: {exc}", slug="dag-too-large") from None
            except CodecError as exc:
                raise Problem(
                    422, f"{where}: blob is not a valid zstd frame: {exc}", slug="corrupt-dag-blob"
                ) from None
    return sizes


def read_new_versions(
    uploads: list[tuple[str, DagUpload]], sizes: dict[str, int], limits: BlobLimits
) -> dict[tuple[str, str], SerializedDag | InvalidDag]:
    """Decompress, verify and decode each upload that makes a new version, by (dag id, hash).

    The decompressed bytes of the whole batch are bounded first (413); a blob that does not hold
    the bytes its hash names is a 422 for the batch (the processor sent something other than it
    hashed); a blob that decodes to no runnable DAG is that DAG's :class:`InvalidDag`.
    """
    total = sum(sizes[upload.dag_hash] for _, upload in uploads)
    if total > limits.max_batch_decompressed_bytes:
        raise Problem(
            413,
            f"the new DAG versions of this upload decompress to {total} bytes, more than the "
            f"{limits.max_batch_decompressed_bytes} bytes one upload may carry; send fewer DAGs "
            "per request",
            slug="batch-too-large",
        )
    verified: dict[bytes, bytes] = {}  # blob -> its content, each distinct blob checked once
    read: dict[tuple[str, str], SerializedDag | InvalidDag] = {}
    for path, upload in uploads:
        content = verified.get(upload.blob)
        if content is None:
            content = verified[upload.blob] = _content(upload, path, limits)
        key = (upload.metadata.dag_id, upload.dag_hash)
        if key not in read:
            try:
                read[key] = decode_and_check(content, key[0], limits.max_dag_tasks)
            except InvalidDag as exc:
                read[key] = exc
    return read


def _content(upload: DagUpload, path: str, limits: BlobLimits) -> bytes:
    """The blob's decompressed bytes, which must be the ones its ``dag_hash`` names."""
    where = _where(upload, path)
    try:
        content = decompress(upload.blob, limits.max_decompressed_bytes)
    except CodecError as exc:
        raise Problem(
            422, f"{where}: blob does not decompress: {exc}", slug="corrupt-dag-blob"
        ) from None
    actual = hashlib.sha256(content).hexdigest()
    if actual != upload.dag_hash:
        raise Problem(
            422,
            f"{where}: dag_hash {upload.dag_hash!r} does not match the blob's content (sha256 {actual})",
            slug="dag-hash-mismatch",
        )
    return content


def _where(upload: DagUpload, path: str) -> str:
    return f"DAG {upload.metadata.dag_id!r} from {path}"


@dataclass
class _Loaded:
    """What the DB already holds for the DAGs, files and sources a batch mentions."""

    dags: dict[str, Dag]
    files: dict[str, BundleFile]
    versions: dict[tuple[str, str], tuple[int, int]]  # (dag_id, hash) -> (id, number)
    max_version: dict[str, int]
    sources: set[str]
    live_paths: dict[str, set[str]] = field(default_factory=dict)  # path -> dag ids it defines


def sync_bundle(
    session: Session,
    bundle: str,
    batch: BundleSync,
    sizes: dict[str, int],
    limits: BlobLimits,
    *,
    paused_at_creation: bool = True,
) -> BundleSyncResult:
    """Apply ``batch``; a DAG new to the DB is stored paused if its ``is_paused_upon_creation``
    says so, or, when it says nothing, if ``paused_at_creation`` does."""
    now = dt.datetime.now(dt.UTC)
    bundle_row = session.get(Bundle, bundle) or Bundle(name=bundle)
    bundle_row.last_parsed_at = now
    session.add(bundle_row)
    session.flush()
    loaded = _load(session, bundle, batch)
    read = read_new_versions(
        [
            (file.relative_path, upload)
            for file in batch.files
            for upload in file.dags
            if (upload.metadata.dag_id, upload.dag_hash) not in loaded.versions
        ],
        sizes,
        limits,
    )

    results: list[DagSyncResult] = []
    errors: dict[str, str | None] = {}
    kept_ids: dict[str, list[str]] = {}
    going_stale: set[tuple[str, str]] = set()  # (path, dag_id)
    broken_keep: list[str] = []
    accepted: list[tuple[str, DagUpload]] = []
    claimed: dict[str, str] = {}  # dag_id -> path, within this batch
    for file in batch.files:
        problems = [file.import_error] if file.import_error else []
        file_ids: list[str] = []
        old_ids = loaded.live_paths.get(file.relative_path, set())
        for upload in file.dags:
            dag_id = upload.metadata.dag_id
            reason = _ownership_conflict(
                bundle, file.relative_path, loaded, claimed.get(dag_id), dag_id
            )
            invalid = read.get((dag_id, upload.dag_hash))
            if reason is None and isinstance(invalid, InvalidDag):
                reason = f"DAG {dag_id!r} in {file.relative_path}: {invalid}"
                claimed[dag_id] = file.relative_path
                if dag_id in old_ids:  # it keeps its last good version, flagged
                    file_ids.append(dag_id)
                    broken_keep.append(dag_id)
            if reason:
                problems.append(reason)
                results.append(
                    DagSyncResult(
                        dag_id=dag_id,
                        relative_path=file.relative_path,
                        outcome="rejected",
                        reason=reason,
                    )
                )
                continue
            claimed[dag_id] = file.relative_path
            file_ids.append(dag_id)
            accepted.append((file.relative_path, upload))
        errors[file.relative_path] = "\n\n".join(problems) or None
        if file.import_error and not file.dags:
            kept_ids[file.relative_path] = sorted(old_ids)
            broken_keep += old_ids
        else:
            kept_ids[file.relative_path] = sorted(file_ids)
            going_stale |= {(file.relative_path, d) for d in old_ids - set(file_ids)}

    _write_sources(session, batch, loaded)
    file_hashes = {f.relative_path: f.content_hash for f in batch.files}
    results += _write_dags(
        session, bundle, accepted, loaded, sizes, file_hashes, now, paused_at_creation
    )
    created = {r.dag_id for r in results if r.outcome == "created"}
    record_references(
        session,
        {
            u.metadata.dag_id: dag
            for _, u in accepted
            if u.metadata.dag_id in created
            and isinstance(dag := read[(u.metadata.dag_id, u.dag_hash)], SerializedDag)
        },
        now,
    )
    if broken_keep:
        session.execute(
            update(Dag)
            .where(Dag.dag_id.in_(broken_keep), Dag.bundle_name == bundle)
            .values(has_import_errors=True)
        )
    stale = _mark_stale(session, bundle, going_stale)
    _write_files(session, bundle, batch, loaded, kept_ids, now)
    _write_import_errors(session, bundle, errors, now)
    stale += _forget_files(session, bundle, batch.deleted_files)
    session.commit()
    return BundleSyncResult(
        bundle=bundle,
        dags=sorted(results, key=lambda r: (r.relative_path, r.dag_id)),
        import_errors=sum(1 for message in errors.values() if message),
        stale_dags=sorted(set(stale)),
    )


def _load(session: Session, bundle: str, batch: BundleSync) -> _Loaded:
    dag_ids = {u.metadata.dag_id for f in batch.files for u in f.dags}
    paths = {f.relative_path for f in batch.files}
    files = {
        row.relative_path: row
        for row in session.scalars(
            select(BundleFile).where(
                BundleFile.bundle_name == bundle, BundleFile.relative_path.in_(paths)
            )
        )
    }
    dags = {row.dag_id: row for row in session.scalars(select(Dag).where(Dag.dag_id.in_(dag_ids)))}
    # Files elsewhere in the bundle that still define one of these DAG ids.
    other_paths = {d.relative_fileloc for d in dags.values() if d.bundle_name == bundle} - paths
    files.update(
        {
            row.relative_path: row
            for row in session.scalars(
                select(BundleFile).where(
                    BundleFile.bundle_name == bundle, BundleFile.relative_path.in_(other_paths)
                )
            )
        }
    )
    pairs = {(u.metadata.dag_id, u.dag_hash) for f in batch.files for u in f.dags}
    versions = (
        {
            (dag_id, content_hash): (version_id, number)
            for version_id, dag_id, content_hash, number in session.execute(
                select(
                    DagVersion.id,
                    DagVersion.dag_id,
                    DagVersion.content_hash,
                    DagVersion.version_number,
                ).where(tuple_(DagVersion.dag_id, DagVersion.content_hash).in_(pairs))
            )
        }
        if pairs
        else {}
    )
    # Not dict(result): a Result has .keys(), so dict() would read it as a mapping.
    max_version: dict[str, int] = {  # noqa: C416
        dag_id: number
        for dag_id, number in session.execute(
            select(DagVersion.dag_id, func.max(DagVersion.version_number))
            .where(DagVersion.dag_id.in_(dag_ids))
            .group_by(DagVersion.dag_id)
        )
    }
    hashes = {f.content_hash for f in batch.files if f.source is not None}
    sources = set(
        session.scalars(select(DagSource.content_hash).where(DagSource.content_hash.in_(hashes)))
    )
    live = {path: set(row.dag_ids or []) for path, row in files.items()}
    return _Loaded(
        dags=dags,
        files=files,
        versions=versions,
        max_version=max_version,
        sources=sources,
        live_paths=live,
    )


def _ownership_conflict(
    bundle: str, path: str, loaded: _Loaded, claimed_by: str | None, dag_id: str
) -> str | None:
    if claimed_by is not None and claimed_by != path:
        return f"DAG id {dag_id!r} in {path} is already defined in {claimed_by} of this bundle; rename one of them"
    dag = loaded.dags.get(dag_id)
    if dag is None:
        return None
    if dag.bundle_name != bundle:
        return (
            f"DAG id {dag_id!r} in {path} is already defined by bundle {dag.bundle_name!r} "
            f"({dag.relative_fileloc}); DAG ids must be unique across bundles, so rename one of them"
        )
    if (
        dag.relative_fileloc != path
        and not dag.is_stale
        and dag_id in loaded.live_paths.get(dag.relative_fileloc, set())
    ):
        return f"DAG id {dag_id!r} in {path} is already defined in {dag.relative_fileloc} of this bundle; rename one of them"
    return None


def _write_sources(session: Session, batch: BundleSync, loaded: _Loaded) -> None:
    new = {
        f.content_hash: f.source
        for f in batch.files
        if f.source is not None and f.content_hash not in loaded.sources
    }
    if new:
        session.execute(
            insert(DagSource), [{"content_hash": h, "source": s} for h, s in new.items()]
        )
        loaded.sources |= set(new)


def _paused(declared: bool | None, default: bool) -> bool:
    return default if declared is None else declared


def _write_dags(
    session: Session,
    bundle: str,
    accepted: list[tuple[str, DagUpload]],
    loaded: _Loaded,
    sizes: dict[str, int],
    file_hashes: dict[str, str],
    now: dt.datetime,
    paused_at_creation: bool,
) -> list[DagSyncResult]:
    if not accepted:
        return []
    columns = []
    for path, upload in accepted:
        meta = upload.metadata
        columns.append(
            {
                "dag_id": meta.dag_id,
                "bundle_name": bundle,
                "fileloc": meta.fileloc,
                "relative_fileloc": path,
                "schedule": meta.schedule,
                "timetable_summary": meta.timetable_summary,
                "description": meta.description,
                "dag_display_name": meta.dag_display_name,
                "owners": list(meta.owners),
                "tags": list(meta.tags),
                "max_active_runs": meta.max_active_runs,
                "max_active_tasks": meta.max_active_tasks,
                "catchup": meta.catchup,
                "listed_runs": msgspec.to_builtins(meta.listed_runs),
                "is_stale": False,
                "has_import_errors": False,
                "last_parsed_at": now,
            }
        )
    new_rows = [
        c | {"is_paused": _paused(u.metadata.is_paused_upon_creation, paused_at_creation)}
        for c, (_, u) in zip(columns, accepted, strict=True)
        if c["dag_id"] not in loaded.dags
    ]
    if new_rows:
        session.execute(insert(Dag), new_rows)
    existing = [c for c in columns if c["dag_id"] in loaded.dags]
    if existing:
        session.execute(update(Dag), existing)

    results: list[DagSyncResult] = []
    rows: list[dict[str, object]] = []
    created_from: list[tuple[str, DagUpload]] = []
    latest: dict[str, int] = {}
    for path, upload in accepted:
        dag_id = upload.metadata.dag_id
        known = loaded.versions.get((dag_id, upload.dag_hash))
        if known is not None:
            latest[dag_id] = known[0]
            results.append(
                DagSyncResult(
                    dag_id=dag_id, relative_path=path, outcome="unchanged", version_number=known[1]
                )
            )
            continue
        number = loaded.max_version.get(dag_id, 0) + 1
        loaded.max_version[dag_id] = number
        source_hash = file_hashes[path] if file_hashes[path] in loaded.sources else None
        rows.append(
            {
                "dag_id": dag_id,
                "version_number": number,
                "content_hash": upload.dag_hash,
                "blob": upload.blob,
                "blob_size": len(upload.blob),
                "decompressed_size": sizes[upload.dag_hash],
                "bundle_name": bundle,
                "source_hash": source_hash,
                "created_at": now,
            }
        )
        created_from.append((path, upload))
    if rows:
        created = session.execute(
            insert(DagVersion).returning(
                DagVersion.id, DagVersion.version_number, sort_by_parameter_order=True
            ),
            rows,
        ).all()
        for (version_id, number), (path, upload) in zip(created, created_from, strict=True):
            latest[upload.metadata.dag_id] = version_id
            results.append(
                DagSyncResult(
                    dag_id=upload.metadata.dag_id,
                    relative_path=path,
                    outcome="created",
                    version_number=number,
                )
            )
    session.execute(update(Dag), [{"dag_id": d, "latest_version_id": v} for d, v in latest.items()])
    return results


def _write_files(
    session: Session,
    bundle: str,
    batch: BundleSync,
    loaded: _Loaded,
    kept_ids: dict[str, list[str]],
    now: dt.datetime,
) -> None:
    rows = [
        {
            "bundle_name": bundle,
            "relative_path": f.relative_path,
            "content_hash": f.content_hash,
            "last_parsed_at": now,
            "dag_ids": kept_ids[f.relative_path],
        }
        for f in batch.files
    ]
    new = [r for r in rows if r["relative_path"] not in loaded.files]
    old = [r for r in rows if r["relative_path"] in loaded.files]
    if new:
        session.execute(insert(BundleFile), new)
    if old:
        session.execute(update(BundleFile), old)


def _write_import_errors(
    session: Session, bundle: str, errors: dict[str, str | None], now: dt.datetime
) -> None:
    if not errors:
        return
    session.execute(
        delete(ParseImportError).where(
            ParseImportError.bundle_name == bundle, ParseImportError.filename.in_(errors)
        )
    )
    failed = [
        {"bundle_name": bundle, "filename": p, "stacktrace": m, "timestamp": now}
        for p, m in errors.items()
        if m
    ]
    if failed:
        session.execute(insert(ParseImportError), failed)


def _mark_stale(session: Session, bundle: str, pairs: Iterable[tuple[str, str]]) -> list[str]:
    pairs = list(pairs)
    stale: list[str] = []
    for start in range(0, len(pairs), CHUNK):
        stale += session.scalars(
            update(Dag)
            .where(
                tuple_(Dag.relative_fileloc, Dag.dag_id).in_(pairs[start : start + CHUNK]),
                Dag.bundle_name == bundle,
            )
            .values(is_stale=True)
            .returning(Dag.dag_id)
        )
    return stale


def _forget_files(session: Session, bundle: str, paths: list[str]) -> list[str]:
    """Mark the DAGs of deleted files stale and drop the files, ``CHUNK`` paths per statement
    (a bundle may lose more files at once than one PostgreSQL statement has parameters)."""
    stale: list[str] = []
    for start in range(0, len(paths), CHUNK):
        chunk = paths[start : start + CHUNK]
        in_chunk = BundleFile.relative_path.in_(chunk)
        rows = session.scalars(
            select(BundleFile).where(BundleFile.bundle_name == bundle, in_chunk)
        ).all()
        stale += _mark_stale(
            session, bundle, [(row.relative_path, d) for row in rows for d in row.dag_ids]
        )
        session.execute(delete(BundleFile).where(BundleFile.bundle_name == bundle, in_chunk))
        session.execute(
            delete(ParseImportError).where(
                ParseImportError.bundle_name == bundle, ParseImportError.filename.in_(chunk)
            )
        )
    return stale
