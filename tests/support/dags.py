"""Serialized DAGs for tests, and storing them as the Internal API's sync leaves them: a ``dag``
row mirroring the DAG's settings and a new ``dag_version`` whose blob is the real compressed
msgspec JSON."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from airlock.db import Bundle, Dag, DagSource, DagVersion
from airlock.models.codec import encode_and_compress
from airlock.models.dag import SerializedDag, SerializedTask


def task(task_id: str, upstream: tuple[str, ...] | list[str] = (), **fields: Any) -> SerializedTask:
    """A task (an ``EmptyOperator`` unless ``fields`` say otherwise); :func:`make_dag` fills in
    ``downstream``."""
    fields.setdefault("operator_class", "airlock.sdk.EmptyOperator")
    fields.setdefault("operator_name", "EmptyOperator")
    return SerializedTask(task_id=task_id, upstream=sorted(upstream), **fields)


def make_dag(dag_id: str, tasks: list[SerializedTask], **fields: Any) -> SerializedDag:
    """A DAG of ``tasks`` whose ``downstream`` lists match their ``upstream`` ones."""
    downstream: dict[str, list[str]] = {t.task_id: [] for t in tasks}
    for t in tasks:
        for up in t.upstream:
            downstream[up].append(t.task_id)
    linked = [msgspec.structs.replace(t, downstream=sorted(downstream[t.task_id])) for t in tasks]
    return SerializedDag(dag_id=dag_id, relative_fileloc=f"{dag_id}.py", tasks=linked, **fields)


def install_dag(
    session: Session,
    dag: SerializedDag,
    *,
    bundle: str,
    folder: str | None = None,
    paused: bool | None = None,
    source: str | None = None,
) -> int:
    """Store ``dag`` as its DAG's newest version (creating the bundle and the DAG on first use,
    its file under ``folder``, by default ``/{bundle}``); the version's id. Commits."""
    if session.get(Bundle, bundle) is None:
        session.add(Bundle(name=bundle))
    source_hash = None
    if source is not None:
        source_hash = hashlib.sha256(source.encode()).hexdigest()
        if session.get(DagSource, source_hash) is None:
            session.add(DagSource(content_hash=source_hash, source=source))
    row = session.get(Dag, dag.dag_id)
    if row is None:
        row = Dag(
            dag_id=dag.dag_id,
            bundle_name=bundle,
            fileloc=f"{folder or '/' + bundle}/{dag.dag_id}.py",
            relative_fileloc=f"{dag.dag_id}.py",
        )
        session.add(row)
    if paused is not None:
        row.is_paused = paused
    row.max_active_runs = dag.max_active_runs
    row.max_active_tasks = dag.max_active_tasks
    row.catchup = dag.catchup
    row.tags = list(dag.tags)
    row.owners = list(dag.owners)
    row.description = dag.description
    row.dag_display_name = dag.dag_display_name
    row.timetable_summary = dag.timetable_summary
    session.flush()
    number = session.scalar(
        select(func.coalesce(func.max(DagVersion.version_number), 0)).where(
            DagVersion.dag_id == dag.dag_id
        )
    )
    blob, content_hash = encode_and_compress(dag)
    version = DagVersion(
        dag_id=dag.dag_id,
        version_number=int(number or 0) + 1,
        content_hash=content_hash,
        blob=blob,
        blob_size=len(blob),
        decompressed_size=0,
        bundle_name=bundle,
        source_hash=source_hash,
    )
    session.add(version)
    session.flush()
    row.latest_version_id = version.id
    session.commit()
    return version.id
