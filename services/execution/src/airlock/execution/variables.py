"""Variables for running tasks: read the task's bundle's and the global ones (no bundle); write
and delete only the bundle's own. A global variable reaches every team's tasks, so a task that
could change it could steer another team's work: a task changes one only when an admin granted it
(``task_writable``), and never deletes one (403 naming the variable). A variable of another
bundle answers 404 to every verb, exactly as a missing one, so its existence never leaks and it
can never be overwritten.

A variable a task creates belongs to the task's bundle. Values are encrypted at rest.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

from airlock.core.http import Problem, require_kind
from airlock.core.tokens import TokenKind
from airlock.db import SecretBox, Variable, upsert_insert
from airlock.db.secret_reads import read_variable
from airlock.execution.access import Ident, token_bundle
from airlock.models.execution import VariableWrite
from airlock.models.secrets import VariableValue


def _writable(bundle: str) -> ColumnElement[bool]:
    return or_(
        Variable.bundle_name == bundle,
        and_(Variable.bundle_name.is_(None), Variable.task_writable.is_(True)),
    )


def _refusal(session: Session, key: str, bundle: str, verb: str) -> Problem:
    """Why a write of ``key`` did not land: a global variable is read-only for tasks (403); any
    other is as missing (404)."""
    global_row = session.scalar(
        select(Variable.key).where(Variable.key == key, Variable.bundle_name.is_(None))
    )
    session.rollback()
    if global_row is None:
        return _not_found(key, bundle)
    return Problem(
        403,
        f"variable {key!r} is global (every bundle's tasks read it); a task may not {verb} it. "
        "Use a variable of your bundle, or ask an admin to grant task writes (task_writable)",
        slug="variable-read-only",
    )


def _not_found(key: str, bundle: str) -> Problem:
    return Problem(
        404, f"variable {key!r} does not exist for bundle {bundle!r}", slug="variable-not-found"
    )


class VariableController(Controller):
    path = "/variables/{key:str}"
    tags = ["variables"]
    guards = [require_kind(TokenKind.TASK)]

    @get("/", operation_id="GetVariableForTask", sync_to_thread=True)
    def get_variable(
        self,
        request: Request[Any, Any, Any],
        key: Ident,
        session: NamedDependency[Session],
        secret_box: NamedDependency[SecretBox],
    ) -> VariableValue:
        bundle = token_bundle(request)
        variable = read_variable(session, key, bundle, secret_box)
        if variable is None:
            raise _not_found(key, bundle)
        return variable

    @put("/", operation_id="SetVariableFromTask", sync_to_thread=True, status_code=204)
    def set_variable(
        self,
        request: Request[Any, Any, Any],
        key: Ident,
        data: JSONBody[VariableWrite],
        session: NamedDependency[Session],
        secret_box: NamedDependency[SecretBox],
    ) -> None:
        """Create the variable in the task's bundle, or update it where the task may write it.

        One ``INSERT … ON CONFLICT DO UPDATE … WHERE writable``: concurrent writers cannot race
        into another bundle's variable or an ungranted global one.
        """
        bundle = token_bundle(request)
        row = Variable(key=key, bundle_name=bundle, description=data.description)
        row.set_value(data.value, secret_box)
        dialect = session.get_bind().dialect.name
        insert = upsert_insert(dialect)
        statement = insert(Variable).values(
            key=key,
            value=row.value,
            description=data.description,
            bundle_name=bundle,
            is_encrypted=row.is_encrypted,
        )
        upsert = statement.on_conflict_do_update(
            index_elements=[Variable.key],
            set_={
                "value": statement.excluded.value,
                "is_encrypted": statement.excluded.is_encrypted,
                "description": func.coalesce(statement.excluded.description, Variable.description),
            },
            where=_writable(bundle),
        ).returning(Variable.key)
        if session.scalar(upsert) is None:
            raise _refusal(session, key, bundle, "change")
        session.commit()

    @delete("/", operation_id="DeleteVariableFromTask", sync_to_thread=True, status_code=204)
    def delete_variable(
        self, request: Request[Any, Any, Any], key: Ident, session: NamedDependency[Session]
    ) -> None:
        bundle = token_bundle(request)
        gone = session.scalar(
            sql_delete(Variable)
            .where(Variable.key == key, Variable.bundle_name == bundle)
            .returning(Variable.key)
        )
        if gone is None:
            raise _refusal(session, key, bundle, "delete")
        session.commit()
