"""Files of a bundle that failed to import, with their tracebacks (Airflow's ``/importErrors``).

A team-scoped user sees only its bundles' errors; another bundle's error is 404, like one that
does not exist.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of, require_user_role
from airlock.core.tokens import UserRole
from airlock.db import ParseImportError
from airlock.models.web_dags import ImportErrorList, ImportErrorView
from airlock.web.filters import contains, plain_text
from airlock.web.listing import Offset, Sorting, page_of

IMPORT_ERROR_SORTING = Sorting(
    {
        "import_error_id": ParseImportError.id,
        "timestamp": ParseImportError.timestamp,
        "filename": ParseImportError.filename,
        "bundle_name": ParseImportError.bundle_name,
    },
    default="import_error_id",
    tiebreak=[ParseImportError.id],
)


class ImportErrorController(Controller):
    path = "/importErrors"
    tags = ["import errors"]
    guards = [require_user_role(UserRole.VIEWER)]

    @get("/", operation_id="ListImportErrors", sync_to_thread=True)
    def list_import_errors(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[Session],
        limit: FromQuery[int | None] = None,
        offset: Offset = None,
        order_by: FromQuery[str | None] = None,
        bundle_name: FromQuery[list[str] | None] = None,
        filename_pattern: FromQuery[str | None] = None,
    ) -> ImportErrorList:
        plain_text("bundle_name", bundle_name)
        plain_text("filename_pattern", filename_pattern)
        query = select(ParseImportError)
        bundles = claims_of(request).bundles
        if bundles is not None:
            query = query.where(ParseImportError.bundle_name.in_(bundles))
        if bundle_name:
            query = query.where(ParseImportError.bundle_name.in_(bundle_name))
        if filename_pattern:
            query = query.where(contains(ParseImportError.filename, filename_pattern))
        rows, total = page_of(session, query, IMPORT_ERROR_SORTING.parse(order_by), limit, offset)
        return ImportErrorList(import_errors=[_view(row) for row in rows], total_entries=total)

    @get("/{import_error_id:int}", operation_id="GetImportError", sync_to_thread=True)
    def get_import_error(
        self,
        request: Request[Any, Any, Any],
        import_error_id: FromPath[int],
        session: NamedDependency[Session],
    ) -> ImportErrorView:
        row = session.get(ParseImportError, import_error_id)
        if row is None or not claims_of(request).may_touch_bundle(row.bundle_name):
            raise Problem(
                404, f"import error {import_error_id} not found", slug="import-error-not-found"
            )
        return _view(row)


def _view(row: ParseImportError) -> ImportErrorView:
    return ImportErrorView(
        import_error_id=row.id,
        bundle_name=row.bundle_name,
        filename=row.filename,
        stack_trace=row.stacktrace,
        timestamp=row.timestamp,
    )
