"""Triggers: what each deferred task waits for, which triggerer runs it, and since when.

Read-only; a user sees the triggers of the DAGs of their bundles. Kwargs that look secret are
masked: a trigger's kwargs are plain JSON a DAG author chose, and may carry a credential.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from airlock.core.http import require_user_role
from airlock.core.tokens import UserRole
from airlock.db import Dag, TaskInstance, Trigger
from airlock.models.web_triggers import TriggerList, TriggerView
from airlock.web.listing import Offset
from airlock.web.runs import visible_bundles

_SECRET = re.compile(r"pass|secret|token|key|credential|auth", re.IGNORECASE)
MAX_TRIGGERS = 500


def masked(kwargs: dict[str, Any] | None) -> dict[str, Any]:
    return {k: ("***" if _SECRET.search(k) else v) for k, v in (kwargs or {}).items()}


def _query() -> Select[Trigger, TaskInstance]:
    return select(Trigger, TaskInstance).join(
        TaskInstance, TaskInstance.id == Trigger.task_instance_id
    )


def trigger_view(trigger: Trigger, ti: TaskInstance) -> TriggerView:
    return TriggerView(
        id=trigger.id,
        classpath=trigger.classpath,
        kwargs=masked(trigger.kwargs),
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        created_at=trigger.created_at,
        triggerer=trigger.triggerer,
        lease_expires_at=trigger.lease_expires_at,
        timeout_at=trigger.timeout_at,
        fired_at=trigger.fired_at,
    )


def trigger_of(session: Session, ti: TaskInstance) -> TriggerView | None:
    row = session.execute(_query().where(Trigger.task_instance_id == ti.id)).one_or_none()
    return None if row is None else trigger_view(row[0], row[1])


class TriggerController(Controller):
    path = "/triggers"
    tags = ["triggers"]
    guards = [require_user_role(UserRole.VIEWER)]

    @get("/", operation_id="ListTriggers", sync_to_thread=True)
    def list_triggers(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[Session],
        offset: Offset = None,
    ) -> TriggerList:
        """The triggers of deferred tasks of the caller's DAGs, oldest first."""
        query = _query()
        bundles = visible_bundles(request)
        if bundles is not None:
            query = query.where(
                TaskInstance.dag_id.in_(select(Dag.dag_id).where(Dag.bundle_name.in_(bundles)))
            )
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.execute(
            query.order_by(Trigger.id).offset(offset or 0).limit(MAX_TRIGGERS)
        ).all()
        return TriggerList(triggers=[trigger_view(t, ti) for t, ti in rows], total_entries=total)
