"""Variables: configuration tasks read at run time. Viewers read, admins write.

Tasks change only their bundle's variables; ``task_writable`` lets them change a global one too,
a grant only an admin for every bundle can give (a global variable reaches every team).

Values are encrypted at rest (``airlock.db`` :class:`~airlock.db.SecretBox`) whatever their key;
a value whose key names a secret is masked in every answer (:mod:`airlock.web.secrets_access`).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of, require_user_role
from airlock.core.tokens import UserRole
from airlock.db import SecretBox, SecretDecryptError, Variable
from airlock.models.secrets import MASK, is_sensitive
from airlock.models.web_variables import (
    VariableCollection,
    VariableCreate,
    VariablePatch,
    VariableView,
)
from airlock.web.listing import Offset, Sorting, page_of
from airlock.web.secrets_access import check_writable, may_read

VARIABLE_SORT = Sorting(
    {"key": Variable.key, "bundle_name": Variable.bundle_name}, default="key", tiebreak=[]
)


class VariableController(Controller):
    path = "/variables"
    tags = ["variables"]
    guards = [require_user_role(UserRole.VIEWER)]

    @get("/", operation_id="ListVariables", sync_to_thread=True)
    def list_variables(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[Session],
        secret_box: NamedDependency[SecretBox],
        variable_key_pattern: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        offset: Offset = None,
        order_by: FromQuery[str | None] = None,
    ) -> VariableCollection:
        """Variables the caller may see; ``variable_key_pattern`` matches keys containing it."""
        order = VARIABLE_SORT.parse(order_by)
        query = select(Variable)
        bundles = claims_of(request).bundles
        if bundles is not None:
            query = query.where(
                or_(Variable.bundle_name.is_(None), Variable.bundle_name.in_(bundles))
            )
        if variable_key_pattern:
            query = query.where(Variable.key.contains(variable_key_pattern, autoescape=True))
        rows, total = page_of(session, query, order, limit, offset)
        return VariableCollection(
            variables=[_view(v, secret_box) for v in rows], total_entries=total
        )

    @get("/{key:str}", operation_id="GetVariable", sync_to_thread=True)
    def get_variable(
        self,
        request: Request[Any, Any, Any],
        key: FromPath[str],
        session: NamedDependency[Session],
        secret_box: NamedDependency[SecretBox],
    ) -> VariableView:
        return _view(_find(request, session, key), secret_box)

    @post(
        "/",
        operation_id="CreateVariable",
        guards=[require_user_role(UserRole.ADMIN)],
        sync_to_thread=True,
        status_code=201,
    )
    def create_variable(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[VariableCreate],
        session: NamedDependency[Session],
        secret_box: NamedDependency[SecretBox],
        overwrite: FromQuery[bool] = False,
    ) -> VariableView:
        """Create a variable; with ``overwrite=true``, replace one that exists (``airlock
        variables set``)."""
        check_writable(request, data.bundle_name, "variable")
        _check_grant(data.bundle_name, data.task_writable)
        row = session.get(Variable, data.key)
        if row is not None:
            if not overwrite or not may_read(request, row.bundle_name):
                owner = (
                    f" (in bundle {row.bundle_name!r})"
                    if row.bundle_name and may_read(request, row.bundle_name)
                    else ""
                )
                raise Problem(
                    409,
                    f"variable {data.key!r} exists{owner}; change it with PATCH, or pass "
                    "overwrite=true",
                    slug="variable-exists",
                )
            check_writable(request, row.bundle_name, "variable")
        else:
            row = Variable(key=data.key)
            session.add(row)
        row.set_value(data.value, secret_box)
        row.description = data.description
        row.bundle_name = data.bundle_name
        row.task_writable = data.task_writable
        session.commit()
        return _view(row, secret_box)

    @patch(
        "/{key:str}",
        operation_id="PatchVariable",
        guards=[require_user_role(UserRole.ADMIN)],
        sync_to_thread=True,
    )
    def patch_variable(
        self,
        request: Request[Any, Any, Any],
        key: FromPath[str],
        data: JSONBody[VariablePatch],
        session: NamedDependency[Session],
        secret_box: NamedDependency[SecretBox],
    ) -> VariableView:
        row = _find(request, session, key)
        check_writable(request, row.bundle_name, "variable")
        if data.value is not None:
            row.set_value(data.value, secret_box)
        if data.description is not None:
            row.description = data.description or None
        if data.task_writable is not None:
            _check_grant(row.bundle_name, data.task_writable)
            row.task_writable = data.task_writable
        session.commit()
        return _view(row, secret_box)

    @delete(
        "/{key:str}",
        operation_id="DeleteVariable",
        guards=[require_user_role(UserRole.ADMIN)],
        sync_to_thread=True,
    )
    def delete_variable(
        self, request: Request[Any, Any, Any], key: FromPath[str], session: NamedDependency[Session]
    ) -> None:
        row = _find(request, session, key)
        check_writable(request, row.bundle_name, "variable")
        session.delete(row)
        session.commit()


def _check_grant(bundle_name: str | None, task_writable: bool) -> None:
    if task_writable and bundle_name is not None:
        raise Problem(
            422,
            f"task_writable is for global variables; the tasks of bundle {bundle_name!r} "
            "already change its variables",
            slug="bad-grant",
        )


def _find(request: Request[Any, Any, Any], session: Session, key: str) -> Variable:
    row = session.get(Variable, key)
    if row is None or not may_read(request, row.bundle_name):
        raise Problem(404, f"variable {key!r} not found", slug="variable-not-found")
    return row


def _view(row: Variable, box: SecretBox) -> VariableView:
    if is_sensitive(row.key):
        value = MASK
    else:
        try:
            value = row.get_value(box)
        except SecretDecryptError:
            value = MASK
    return VariableView(
        key=row.key,
        value=value,
        description=row.description,
        bundle_name=row.bundle_name,
        is_encrypted=row.is_encrypted,
        task_writable=row.task_writable,
    )
