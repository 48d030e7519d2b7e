"""Bundle endpoints: what the server holds for each file of a bundle (DESIGN §4.1).

A service token names the bundles it may touch; asking about any other bundle is 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of, require_service_role
from airlock.core.settings import InternalSettings
from airlock.core.tokens import ServiceRole
from airlock.db.models.bundle import BundleFile
from airlock.internal.dag_sync import BlobLimits, check_blobs, sync_bundle
from airlock.models.internal import BundleFileInfo, BundleFilesPage, BundleSync, BundleSyncResult

MAX_PAGE = 1000


def ensure_bundle_access(request: Request[Any, Any, Any], bundle: str) -> None:
    claims = claims_of(request)
    if not claims.may_touch_bundle(bundle):
        raise Problem(
            403,
            f"this token may touch bundles {claims.bundles}, not {bundle!r}",
            slug="forbidden-bundle",
        )


class BundleController(Controller):
    path = "/bundles/{bundle:str}"
    tags = ["bundles"]
    guards = [require_service_role(ServiceRole.DAG_PROCESSOR)]

    @get("/files", operation_id="ListBundleFiles", sync_to_thread=True)
    def list_files(
        self,
        request: Request[Any, Any, Any],
        bundle: FromPath[str],
        session: NamedDependency[Session],
        after: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 500,
    ) -> BundleFilesPage:
        ensure_bundle_access(request, bundle)
        query = select(BundleFile).where(BundleFile.bundle_name == bundle)
        if after is not None:
            query = query.where(BundleFile.relative_path > after)
        rows = session.scalars(query.order_by(BundleFile.relative_path).limit(limit + 1)).all()
        files = [
            BundleFileInfo(
                relative_path=row.relative_path,
                content_hash=row.content_hash,
                last_parsed_at=row.last_parsed_at,
                dag_ids=list(row.dag_ids or []),
            )
            for row in rows[:limit]
        ]
        next_after = files[-1].relative_path if len(rows) > limit else None
        return BundleFilesPage(bundle=bundle, files=files, next_after=next_after)

    @put("/dags", operation_id="SyncBundleDags", sync_to_thread=True, status_code=200)
    def sync_dags(
        self,
        request: Request[Any, Any, Any],
        bundle: FromPath[str],
        data: JSONBody[BundleSync],
        session: NamedDependency[Session],
        internal_settings: NamedDependency[InternalSettings],
    ) -> BundleSyncResult:
        """Upsert parsed DAGs, record import errors and mark DAGs of deleted files stale."""
        ensure_bundle_access(request, bundle)
        limits = BlobLimits.of(internal_settings)
        sizes = check_blobs(data, limits)
        try:
            return sync_bundle(
                session,
                bundle,
                data,
                sizes,
                limits,
                paused_at_creation=internal_settings.dags_are_paused_at_creation,
            )
        except IntegrityError:
            session.rollback()
            raise Problem(
                409,
                f"another upload for bundle {bundle!r} changed the same DAGs at the same time; retry",
                slug="concurrent-upload",
            ) from None
