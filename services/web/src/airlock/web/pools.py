"""Pools: caps on how many task slots run at once across DAGs. Viewers read; admins who are not
limited to bundles write (a pool is shared by every team).

Each pool is answered with how its slots are used right now (running, queued, scheduled,
deferred task instances), counted in one grouped query per page.
"""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, require_user_role
from airlock.core.tokens import UserRole
from airlock.db import DEFAULT_POOL_NAME, Pool, TaskInstance
from airlock.models.states import TaskInstanceState as TIS
from airlock.models.web_pools import PoolCollection, PoolCreate, PoolPatch, PoolView
from airlock.web.access import require_unscoped_admin
from airlock.web.listing import Offset, Sorting, page_of

POOL_SORT = Sorting({"name": Pool.name, "slots": Pool.slots}, default="name")
_POOL_ADMIN = require_unscoped_admin("changing pools")
_COUNTED = (TIS.RUNNING, TIS.QUEUED, TIS.SCHEDULED, TIS.DEFERRED)


class PoolController(Controller):
    path = "/pools"
    tags = ["pools"]
    guards = [require_user_role(UserRole.VIEWER)]

    @get("/", operation_id="ListPools", sync_to_thread=True)
    def list_pools(
        self,
        session: NamedDependency[Session],
        pool_name_pattern: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        offset: Offset = None,
        order_by: FromQuery[str | None] = None,
    ) -> PoolCollection:
        order = POOL_SORT.parse(order_by)
        query = select(Pool)
        if pool_name_pattern:
            query = query.where(Pool.name.contains(pool_name_pattern, autoescape=True))
        rows, total = page_of(session, query, order, limit, offset)
        return PoolCollection(pools=_views(session, rows), total_entries=total)

    @get("/{name:str}", operation_id="GetPool", sync_to_thread=True)
    def get_pool(self, name: FromPath[str], session: NamedDependency[Session]) -> PoolView:
        return _views(session, [_find(session, name)])[0]

    @post(
        "/",
        operation_id="CreatePool",
        guards=[require_user_role(UserRole.ADMIN), _POOL_ADMIN],
        sync_to_thread=True,
        status_code=201,
    )
    def create_pool(
        self, data: JSONBody[PoolCreate], session: NamedDependency[Session]
    ) -> PoolView:
        if session.get(Pool, data.name) is not None:
            raise Problem(
                409, f"pool {data.name!r} exists; change it with PATCH", slug="pool-exists"
            )
        row = Pool(
            name=data.name,
            slots=data.slots,
            description=data.description,
            include_deferred=data.include_deferred,
        )
        session.add(row)
        session.commit()
        return _views(session, [row])[0]

    @patch(
        "/{name:str}",
        operation_id="PatchPool",
        guards=[require_user_role(UserRole.ADMIN), _POOL_ADMIN],
        sync_to_thread=True,
    )
    def patch_pool(
        self, name: FromPath[str], data: JSONBody[PoolPatch], session: NamedDependency[Session]
    ) -> PoolView:
        row = _find(session, name)
        if data.slots is not None:
            row.slots = data.slots
        if data.description is not None:
            row.description = data.description or None
        if data.include_deferred is not None:
            row.include_deferred = data.include_deferred
        session.commit()
        return _views(session, [row])[0]

    @delete(
        "/{name:str}",
        operation_id="DeletePool",
        guards=[require_user_role(UserRole.ADMIN), _POOL_ADMIN],
        sync_to_thread=True,
    )
    def delete_pool(self, name: FromPath[str], session: NamedDependency[Session]) -> None:
        if name == DEFAULT_POOL_NAME:
            raise Problem(
                409, f"{DEFAULT_POOL_NAME!r} cannot be deleted; resize it instead", slug="pool-kept"
            )
        session.delete(_find(session, name))
        session.commit()


def _find(session: Session, name: str) -> Pool:
    row = session.get(Pool, name)
    if row is None:
        raise Problem(404, f"pool {name!r} not found", slug="pool-not-found")
    return row


def _views(session: Session, pools: Sequence[Pool]) -> list[PoolView]:
    names = [p.name for p in pools]
    usage: dict[tuple[str, TIS | None], int] = {}
    if names:
        for pool, state, slots in session.execute(
            select(TaskInstance.pool, TaskInstance.state, func.sum(TaskInstance.pool_slots))
            .where(TaskInstance.pool.in_(names), TaskInstance.state.in_(_COUNTED))
            .group_by(TaskInstance.pool, TaskInstance.state)
        ):
            usage[(pool, state)] = int(slots or 0)
    views = []
    for p in pools:
        running, queued = usage.get((p.name, TIS.RUNNING), 0), usage.get((p.name, TIS.QUEUED), 0)
        deferred = usage.get((p.name, TIS.DEFERRED), 0)
        occupied = running + queued + (deferred if p.include_deferred else 0)
        views.append(
            PoolView(
                name=p.name,
                slots=p.slots,
                description=p.description,
                include_deferred=p.include_deferred,
                occupied_slots=occupied,
                running_slots=running,
                queued_slots=queued,
                scheduled_slots=usage.get((p.name, TIS.SCHEDULED), 0),
                deferred_slots=deferred,
                open_slots=p.slots - occupied if p.slots >= 0 else -1,
            )
        )
    return views
