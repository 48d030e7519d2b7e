"""Task and asset state stores for running tasks (Airflow 3.3's ``task_state_store`` and
``asset_state_store``).

Scope, enforced here and nowhere else:

- ``/task-instances/{ti_id}/state/…`` is the store of the token's own task instance: the guard
  refuses another task instance's id (403), and only a running try reads or writes it (409), as
  for XComs. A later try of the same task instance reads what an earlier one wrote.
- ``/task-instances/{ti_id}/asset-state/…?uri=`` is the store of one asset the task declares as
  an inlet or outlet in the DAG version it runs (any other URI is a 403), *as the token's bundle
  sees it*: assets are global by URI, but one team's task never reads another team's values.

``/task-instances/{ti_id}/asset-events?uri=`` lists the latest events of a declared asset, for
``context["inlet_events"]``.

Values are stored as the JSON text the runner sent. A key past its expiry reads as absent and is
removed by the next write to the same store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of
from airlock.db import Asset, AssetEvent, AssetState, TaskState, upsert_insert
from airlock.execution.access import XComKey, check_open_try, own_task_instance, token_bundle
from airlock.models.dag import AssetRef
from airlock.models.execution import (
    AssetEventList,
    StateValue,
    StateWrite,
    TriggeringAssetEvent,
)
from airlock.scheduling import DagCache

AssetUri = Annotated[str, QueryParameter(name="uri", min_length=1, max_length=1500)]


@dataclass(frozen=True)
class _Store:
    """One store: its table and the column values that single it out (the key is the last column
    of the table's unique index)."""

    table: type[TaskState] | type[AssetState]
    scope: dict[str, Any]

    def where(self, *more: ColumnElement[bool]) -> list[ColumnElement[bool]]:
        return [*(getattr(self.table, c) == v for c, v in self.scope.items()), *more]


def _read(session: Session, store: _Store, key: str) -> StateValue:
    now = dt.datetime.now(dt.UTC)
    table = store.table
    row = session.execute(
        select(table.value, table.expires_at).where(
            *store.where(table.key == key, or_(table.expires_at.is_(None), table.expires_at > now))
        )
    ).first()
    if row is None:
        raise Problem(404, f"no state-store key {key!r}", slug="state-key-not-found")
    return StateValue(key=key, value=msgspec.json.decode(row.value), expires_at=row.expires_at)


def _write(session: Session, store: _Store, key: str, data: StateWrite) -> None:
    """Upsert one key, first removing the store's expired keys."""
    now = dt.datetime.now(dt.UTC)
    table = store.table
    value = msgspec.json.encode(data.value).decode()
    expires_at = None if data.retention_s is None else now + dt.timedelta(seconds=data.retention_s)
    session.execute(
        sql_delete(table).where(
            *store.where(table.expires_at.is_not(None), table.expires_at <= now)
        )
    )
    insert = upsert_insert(session.get_bind().dialect.name)
    session.execute(
        insert(table)
        .values(**store.scope, key=key, value=value, expires_at=expires_at, updated_at=now)
        .on_conflict_do_update(
            index_elements=[*(getattr(table, c) for c in store.scope), table.key],
            set_={"value": value, "expires_at": expires_at, "updated_at": now},
        )
    )
    session.commit()


def _delete(session: Session, store: _Store, key: str | None) -> None:
    """Delete one key, or every key when ``key`` is None; what is not there is already deleted."""
    more = () if key is None else (store.table.key == key,)
    session.execute(sql_delete(store.table).where(*store.where(*more)))
    session.commit()


def _task_store(request: Request[Any, Any, Any], session: Session, ti_id: str) -> _Store:
    """The store of the token's own task instance, once its try is checked open (409 if not)."""
    ti = check_open_try(session, ti_id, claims_of(request).try_number)
    return _Store(
        TaskState,
        {
            "dag_id": ti.dag_id,
            "run_id": ti.run_id,
            "task_id": ti.task_id,
            "map_index": ti.map_index,
        },
    )


class TaskStateController(Controller):
    path = "/task-instances/{ti_id:str}/state"
    tags = ["state stores"]
    guards = [own_task_instance]

    @get("/{key:str}", operation_id="GetTaskState", sync_to_thread=True)
    def get_key(
        self,
        request: Request[Any, Any, Any],
        ti_id: FromPath[str],
        key: XComKey,
        session: NamedDependency[Session],
    ) -> StateValue:
        return _read(session, _task_store(request, session, ti_id), key)

    @put("/{key:str}", operation_id="SetTaskState", sync_to_thread=True, status_code=204)
    def set_key(
        self,
        request: Request[Any, Any, Any],
        ti_id: FromPath[str],
        key: XComKey,
        data: JSONBody[StateWrite],
        session: NamedDependency[Session],
    ) -> None:
        _write(session, _task_store(request, session, ti_id), key, data)

    @delete("/{key:str}", operation_id="DeleteTaskState", sync_to_thread=True, status_code=204)
    def delete_key(
        self,
        request: Request[Any, Any, Any],
        ti_id: FromPath[str],
        key: XComKey,
        session: NamedDependency[Session],
    ) -> None:
        """Delete one key; a key that is not there is already deleted."""
        _delete(session, _task_store(request, session, ti_id), key)

    @delete("/", operation_id="ClearTaskState", sync_to_thread=True, status_code=204)
    def clear(
        self,
        request: Request[Any, Any, Any],
        ti_id: FromPath[str],
        session: NamedDependency[Session],
    ) -> None:
        _delete(session, _task_store(request, session, ti_id), None)


def _declared_asset(
    request: Request[Any, Any, Any],
    session: Session,
    dag_cache: DagCache,
    ti_id: str,
    uri: str,
) -> tuple[str, str]:
    """(bundle, uri) when the running task declares ``uri`` as an inlet or outlet; 403 if not."""
    ti = check_open_try(session, ti_id, claims_of(request).try_number)
    bundle = token_bundle(request)
    task = dag_cache.task(session, ti.dag_version_id, ti.task_id)
    declared = {a.uri for a in (*task.inlets, *task.outlets) if isinstance(a, AssetRef)}
    if uri not in declared:
        session.rollback()
        listed = ", ".join(sorted(declared)) or "none"
        raise Problem(
            403,
            f"task {ti.task_id!r} of DAG {ti.dag_id!r} does not declare asset {uri!r} as an "
            f"inlet or outlet, so it may not use that asset's state store (its assets: {listed})",
            slug="asset-not-declared",
        )
    return bundle, uri


def _asset_store(
    request: Request[Any, Any, Any], session: Session, dag_cache: DagCache, ti_id: str, uri: str
) -> _Store:
    """The store of a declared asset as the token's bundle sees it."""
    bundle, uri = _declared_asset(request, session, dag_cache, ti_id, uri)
    return _Store(AssetState, {"bundle_name": bundle, "asset_uri": uri})


class AssetStateController(Controller):
    path = "/task-instances/{ti_id:str}/asset-state"
    tags = ["state stores"]
    guards = [own_task_instance]

    @get("/{key:str}", operation_id="GetAssetState", sync_to_thread=True)
    def get_key(
        self,
        request: Request[Any, Any, Any],
        ti_id: FromPath[str],
        key: XComKey,
        uri: AssetUri,
        session: NamedDependency[Session],
        dag_cache: NamedDependency[DagCache],
    ) -> StateValue:
        return _read(session, _asset_store(request, session, dag_cache, ti_id, uri), key)

    @put("/{key:str}", operation_id="SetAssetState", sync_to_thread=True, status_code=204)
    def set_key(
        self,
        request: Request[Any, Any, Any],
        ti_id: FromPath[str],
        key: XComKey,
        uri: AssetUri,
        data: JSONBody[StateWrite],
        session: NamedDependency[Session],
        dag_cache: NamedDependency[DagCache],
    ) -> None:
        _write(session, _asset_store(request, session, dag_cache, ti_id, uri), key, data)

    @delete("/{key:str}", operation_id="DeleteAssetState", sync_to_thread=True, status_code=204)
    def delete_key(
        self,
        request: Request[Any, Any, Any],
        ti_id: FromPath[str],
        key: XComKey,
        uri: AssetUri,
        session: NamedDependency[Session],
        dag_cache: NamedDependency[DagCache],
    ) -> None:
        _delete(session, _asset_store(request, session, dag_cache, ti_id, uri), key)

    @delete("/", operation_id="ClearAssetState", sync_to_thread=True, status_code=204)
    def clear(
        self,
        request: Request[Any, Any, Any],
        ti_id: FromPath[str],
        uri: AssetUri,
        session: NamedDependency[Session],
        dag_cache: NamedDependency[DagCache],
    ) -> None:
        _delete(session, _asset_store(request, session, dag_cache, ti_id, uri), None)


#: The most events ``inlet_events[asset]`` gets.
MAX_INLET_EVENTS = 1000


@get(
    "/task-instances/{ti_id:str}/asset-events",
    operation_id="ListInletAssetEvents",
    guards=[own_task_instance],
    sync_to_thread=True,
    tags=["assets"],
)
def list_inlet_events(
    request: Request[Any, Any, Any],
    ti_id: FromPath[str],
    uri: AssetUri,
    session: NamedDependency[Session],
    dag_cache: NamedDependency[DagCache],
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_INLET_EVENTS)] = 100,
) -> AssetEventList:
    """The latest ``limit`` events of an asset the task declares, oldest first."""
    _declared_asset(request, session, dag_cache, ti_id, uri)
    rows = session.execute(
        select(
            Asset.uri,
            Asset.name,
            AssetEvent.extra,
            AssetEvent.timestamp,
            AssetEvent.source_dag_id,
            AssetEvent.source_task_id,
            AssetEvent.source_run_id,
            AssetEvent.source_map_index,
        )
        .join(Asset, Asset.id == AssetEvent.asset_id)
        .where(Asset.uri == uri)
        .order_by(AssetEvent.timestamp.desc(), AssetEvent.id.desc())
        .limit(limit)
    ).all()
    return AssetEventList(
        events=[
            TriggeringAssetEvent(
                uri=row.uri,
                name=row.name,
                extra=dict(row.extra or {}),
                timestamp=row.timestamp,
                source_dag_id=row.source_dag_id,
                source_task_id=row.source_task_id,
                source_run_id=row.source_run_id,
                source_map_index=row.source_map_index,
            )
            for row in reversed(rows)
        ]
    )
