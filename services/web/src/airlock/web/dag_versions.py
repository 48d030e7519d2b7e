"""Every version of a DAG stays viewable: its metadata, its stored definition, its graph and the
source file it came from. Versions are immutable, so a past run keeps showing the DAG it ran
with however often the file changed since.

The definition is served as stored: a client whose ``Accept-Encoding`` includes ``zstd`` gets the
compressed blob untouched with ``Content-Encoding: zstd`` (no decompression on the server,
DESIGN §7); any other client gets the JSON decompressed (within a size cap).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, require_user_role
from airlock.core.tokens import UserRole
from airlock.db import DagSource, DagVersion
from airlock.models.codec import CodecError, decompress
from airlock.models.web_dags import DagGraph, DagSourceView, DagVersionList, DagVersionView
from airlock.web.access import visible_dag
from airlock.web.dag_graph import graph_of_blob
from airlock.web.dags import MAX_DECOMPRESSED_BYTES
from airlock.web.listing import Offset, Sorting, page_of

VERSION_SORTING = Sorting(
    {
        "version_number": DagVersion.version_number,
        "created_at": DagVersion.created_at,
        "id": DagVersion.id,
    },
    default="-version_number",
    tiebreak=[DagVersion.id],
)

#: Every column but the blob: listing versions never loads a definition.
VERSION_COLUMNS = (
    DagVersion.id,
    DagVersion.dag_id,
    DagVersion.version_number,
    DagVersion.bundle_name,
    DagVersion.content_hash,
    DagVersion.created_at,
    DagVersion.blob_size,
    DagVersion.source_hash,
)


class DagVersionController(Controller):
    path = "/dags/{dag_id:str}/dagVersions"
    tags = ["dag versions"]
    guards = [require_user_role(UserRole.VIEWER)]

    @get("/", operation_id="ListDagVersions", sync_to_thread=True)
    def list_versions(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        session: NamedDependency[Session],
        limit: FromQuery[int | None] = None,
        offset: Offset = None,
        order_by: FromQuery[str | None] = None,
    ) -> DagVersionList:
        visible_dag(request, session, dag_id)
        query = select(*VERSION_COLUMNS).where(DagVersion.dag_id == dag_id)
        rows, total = page_of(session, query, VERSION_SORTING.parse(order_by), limit, offset)
        return DagVersionList(dag_versions=[_view(row) for row in rows], total_entries=total)

    @get("/{version_number:int}", operation_id="GetDagVersion", sync_to_thread=True)
    def get_version(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        version_number: FromPath[int],
        session: NamedDependency[Session],
    ) -> DagVersionView:
        visible_dag(request, session, dag_id)
        row = session.execute(
            select(*VERSION_COLUMNS).where(
                DagVersion.dag_id == dag_id, DagVersion.version_number == version_number
            )
        ).one_or_none()
        if row is None:
            raise _no_version(dag_id, version_number)
        return _view(row)

    @get(
        "/{version_number:int}/definition",
        operation_id="GetDagVersionDefinition",
        sync_to_thread=True,
        media_type="application/json",
        response_description="The serialized DAG (SerializedDag) as msgspec JSON.",
    )
    def definition(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        version_number: FromPath[int],
        session: NamedDependency[Session],
    ) -> Response[bytes]:
        blob = _blob(request, session, dag_id, version_number)
        headers = {"Vary": "Accept-Encoding", "Cache-Control": "private, max-age=31536000"}
        if _accepts_zstd(request.headers.get("accept-encoding", "")):
            return Response(
                blob,
                media_type="application/json",
                headers={**headers, "Content-Encoding": "zstd"},
            )
        try:
            content = decompress(blob, MAX_DECOMPRESSED_BYTES)
        except CodecError as exc:
            raise _unreadable(dag_id, version_number, exc) from None
        return Response(content, media_type="application/json", headers=headers)

    @get("/{version_number:int}/graph", operation_id="GetDagVersionGraph", sync_to_thread=True)
    def graph(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        version_number: FromPath[int],
        session: NamedDependency[Session],
    ) -> DagGraph:
        blob = _blob(request, session, dag_id, version_number)
        try:
            return graph_of_blob(blob, version_number, MAX_DECOMPRESSED_BYTES)
        except CodecError as exc:
            raise _unreadable(dag_id, version_number, exc) from None


class DagSourceController(Controller):
    """The text of the file a DAG version came from (Airflow's ``/dagSources/{dag_id}``)."""

    path = "/dagSources"
    tags = ["dag versions"]
    guards = [require_user_role(UserRole.VIEWER)]

    @get("/{dag_id:str}", operation_id="GetDagSource", sync_to_thread=True)
    def get_source(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        session: NamedDependency[Session],
        version_number: FromQuery[int | None] = None,
    ) -> DagSourceView:
        """The source of ``version_number`` (default: the latest version)."""
        dag = visible_dag(request, session, dag_id)
        query = select(DagVersion.version_number, DagVersion.source_hash).where(
            DagVersion.dag_id == dag_id
        )
        if version_number is None:
            query = query.where(DagVersion.id == dag.latest_version_id)
        else:
            query = query.where(DagVersion.version_number == version_number)
        version = session.execute(query).one_or_none()
        if version is None:
            raise _no_version(dag_id, version_number)
        source = None
        if version.source_hash is not None:
            source = session.get(DagSource, version.source_hash)
        if source is None:
            raise Problem(
                404,
                f"no source file is stored for version {version.version_number} of {dag_id!r}",
                slug="dag-source-not-found",
            )
        return DagSourceView(
            dag_id=dag_id,
            version_number=version.version_number,
            content=source.source,
            content_hash=source.content_hash,
            relative_fileloc=dag.relative_fileloc,
        )


def _blob(
    request: Request[Any, Any, Any], session: Session, dag_id: str, version_number: int
) -> bytes:
    visible_dag(request, session, dag_id)
    blob = session.scalar(
        select(DagVersion.blob).where(
            DagVersion.dag_id == dag_id, DagVersion.version_number == version_number
        )
    )
    if blob is None:
        raise _no_version(dag_id, version_number)
    return blob


def _accepts_zstd(accept_encoding: str) -> bool:
    """Whether ``Accept-Encoding`` lists ``zstd`` (or ``*``) without ``q=0``."""
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() not in ("zstd", "*"):
            continue
        quality = params.strip().lower().removeprefix("q=")
        if params and quality.replace(".", "").strip("0") == "":
            continue
        return True
    return False


def _no_version(dag_id: str, version_number: int | None) -> Problem:
    return Problem(
        404,
        f"DAG {dag_id!r} has no version {version_number}; list them at "
        f"/api/v1/dags/{dag_id}/dagVersions",
        slug="dag-version-not-found",
    )


def _unreadable(dag_id: str, version_number: int, exc: Exception) -> Problem:
    return Problem(
        409,
        f"version {version_number} of DAG {dag_id!r} is stored in a form this server cannot "
        f"read ({exc})",
        slug="dag-version-unreadable",
    )


def _view(row: Any) -> DagVersionView:
    return DagVersionView(
        id=row.id,
        dag_id=row.dag_id,
        version_number=row.version_number,
        bundle_name=row.bundle_name,
        content_hash=row.content_hash,
        created_at=row.created_at,
        blob_size=row.blob_size,
        source_hash=row.source_hash,
    )
