"""Decode each DAG version's blob once per process (DESIGN §7).

A DAG version is immutable (a new upload with a new hash is a new version), so its id is a
perfect cache key: no invalidation, only eviction of the least recently used entries. The cache is
shared by the request threads of an API server and by the scheduler loop, hence the lock; a blob
is read and decoded outside the lock, so a slow decode never blocks lookups of other versions (two
threads missing the same version at once both decode it, and one result wins: harmless).

A stored blob that does not decode, or decodes to a DAG the scheduler cannot walk (a cycle), is
:class:`~airlock.scheduling.errors.BadDagVersion` for that version only; the failure is cached too,
so a bad version costs one decode per process, not one per pass.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.db import DagVersion
from airlock.models.codec import CodecError, decode_dag
from airlock.models.dag import SerializedDag, SerializedTask
from airlock.scheduling.errors import BadDagVersion, DagVersionNotFound, TaskNotInDag
from airlock.scheduling.graph import DagGraph

log = logging.getLogger(__name__)

#: Largest decompressed DAG accepted (the Internal API's default upload limit).
DEFAULT_MAX_DECOMPRESSED_BYTES = 64_000_000


class DagCache:
    def __init__(
        self,
        max_entries: int = 256,
        max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self._max_entries = max_entries
        self._max_bytes = max_decompressed_bytes
        self._entries: OrderedDict[int, DagGraph | BadDagVersion] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: Session, dag_version_id: int) -> SerializedDag:
        """The decoded DAG of a version (raises :class:`DagVersionNotFound`)."""
        return self.graph(session, dag_version_id).dag

    def graph(self, session: Session, dag_version_id: int) -> DagGraph:
        """The version's DAG with its precomputed scheduling structure (raises
        :class:`BadDagVersion` if the stored blob is not a runnable DAG)."""
        with self._lock:
            graph = self._entries.get(dag_version_id)
            if graph is not None:
                self._entries.move_to_end(dag_version_id)
        if graph is None:
            graph = self._load(session, dag_version_id)
        if isinstance(graph, BadDagVersion):
            raise BadDagVersion(str(graph))
        return graph

    def _load(self, session: Session, dag_version_id: int) -> DagGraph | BadDagVersion:
        row = session.execute(
            select(DagVersion.dag_id, DagVersion.version_number, DagVersion.blob).where(
                DagVersion.id == dag_version_id
            )
        ).one_or_none()
        if row is None:
            raise DagVersionNotFound(f"DAG version {dag_version_id} does not exist")
        graph: DagGraph | BadDagVersion
        try:
            graph = DagGraph(decode_dag(row.blob, self._max_bytes))
        except (CodecError, ValueError) as exc:
            graph = BadDagVersion(
                f"version {row.version_number} of DAG {row.dag_id!r} (id {dag_version_id}) "
                f"cannot be read, so it gets no new runs or tasks: {exc}; fix the DAG file "
                "so the DAG processor stores a new version"
            )
            log.error("%s", graph)
        with self._lock:
            self._entries[dag_version_id] = graph
            self._entries.move_to_end(dag_version_id)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return graph

    def task(self, session: Session, dag_version_id: int, task_id: str) -> SerializedTask:
        """One task of a version (raises :class:`TaskNotInDag` if the version lacks it)."""
        graph = self.graph(session, dag_version_id)
        task = graph.task(task_id)
        if task is None:
            raise TaskNotInDag(
                f"task {task_id!r} is not defined in version {dag_version_id} of DAG "
                f"{graph.dag.dag_id!r}"
            )
        return task

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
