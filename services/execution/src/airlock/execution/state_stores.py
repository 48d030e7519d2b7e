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
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of
from airlock.db import Asset, AssetEvent, AssetState, TaskInstance, TaskState, upsert_insert
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


def _expiry(write: StateWrite, now: dt.datetime) -> dt.datetime | None:
    return None if write.retention_s is None else now + dt.timedelta(seconds=write.retention_s)


def _live(expires_at: Any, now: dt.datetime) -> ColumnElement[bool]:
    return or_(expires_at.is_(None), expires_at > now)


def _answer(key: str, row: Any) -> StateValue:
    if row is None:
        raise Problem(404, f"no state-store key {key!r}", slug="state-key-not-found")
    return StateValue(key=key, value=msgspec.json.decode(row.value), expires_at=row.expires_at)


def _open_ti(request: Request[Any, Any, Any], session: Session, ti_id: str) -> TaskInstance:
    return check_open_try(session, ti_id, claims_of(request).try_number)


def _task_scope(ti: TaskInstance) -> list[ColumnElement[bool]]:
    return [
        TaskState.dag_id == ti.dag_id,
        TaskState.run_id == ti.run_id,
        TaskState.task_id == ti.task_id,
        TaskState.map_index == ti.map_index,
    ]


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
        ti = _open_ti(request, session, ti_id)
        now = dt.datetime.now(dt.UTC)
        row = session.execute(
            select(TaskState.value, TaskState.expires_at).where(
                *_task_scope(ti), TaskState.key == key, _live(TaskState.expires_at, now)
            )
        ).first()
        return _answer(key, row)

    @put("/{key:str}", operation_id="SetTaskState", sync_to_thread=True, status_code=204)
    def set_key(
        self,
        request: Request[Any, Any, Any],
        ti_id: FromPath[str],
        key: XComKey,
        data: JSONBody[StateWrite],
        session: NamedDependency[Session],
    ) -> None:
        ti = _open_ti(request, session, ti_id)
        now = dt.datetime.now(dt.UTC)
        value = msgspec.json.encode(data.value).decode()
        expires_at = _expiry(data, now)
        session.execute(
            sql_delete(TaskState).where(
                *_task_scope(ti), TaskState.expires_at.is_not(None), TaskState.expires_at <= now
            )
        )
        insert = upsert_insert(session.get_bind().dialect.name)
        session.execute(
            insert(TaskState)
            .values(
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                task_id=ti.task_id,
                map_index=ti.map_index,
                key=key,
                value=value,
                expires_at=expires_at,
                updated_at=now,
            )
            .on_conflict_do_update(
                index_elements=[
                    TaskState.dag_id,
                    TaskState.run_id,
                    TaskState.task_id,
                    TaskState.map_index,
                    TaskState.key,
                ],
                set_={"value": value, "expires_at": expires_at, "updated_at": now},
            )
        )
        session.commit()

    @delete("/{key:str}", operation_id="DeleteTaskState", sync_to_thread=True, status_code=204)
    def delete_key(
        self,
        request: Request[Any, Any, Any],
        ti_id: FromPath[str],
        key: XComKey,
        session: NamedDependency[Session],
    ) -> None:
        """Delete one key; a key that is not there is already deleted."""
        ti = _open_ti(request, session, ti_id)
        session.execute(sql_delete(TaskState).where(*_task_scope(ti), TaskState.key == key))
        session.commit()

    @delete("/", operation_id="ClearTaskState", sync_to_thread=True, status_code=204)
    def clear(
        self,
        request: Request[Any, Any, Any],
        ti_id: FromPath[str],
        session: NamedDependency[Session],
    ) -> None:
        ti = _open_ti(request, session, ti_id)
        session.execute(sql_delete(TaskState).where(*_task_scope(ti)))
        session.commit()


def _declared_asset(
    request: Request[Any, Any, Any],
    session: Session,
    dag_cache: DagCache,
    ti_id: str,
    uri: str,
) -> tuple[str, str]:
    """(bundle, uri) when the running task declares ``uri`` as an inlet or outlet; 403 if not."""
    ti = _open_ti(request, session, ti_id)
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


def _asset_scope(bundle: str, uri: str) -> list[ColumnElement[bool]]:
    return [AssetState.bundle_name == bundle, AssetState.asset_uri == uri]


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
        bundle, uri = _declared_asset(request, session, dag_cache, ti_id, uri)
        now = dt.datetime.now(dt.UTC)
        row = session.execute(
            select(AssetState.value, AssetState.expires_at).where(
                *_asset_scope(bundle, uri), AssetState.key == key, _live(AssetState.expires_at, now)
            )
        ).first()
        return _answer(key, row)

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
        bundle, uri = _declared_asset(request, session, dag_cache, ti_id, uri)
        now = dt.datetime.now(dt.UTC)
        value = msgspec.json.encode(data.value).decode()
        expires_at = _expiry(data, now)
        session.execute(
            sql_delete(AssetState).where(
                *_asset_scope(bundle, uri),
                AssetState.expires_at.is_not(None),
                AssetState.expires_at <= now,
            )
        )
        insert = upsert_insert(session.get_bind().dialect.name)
        session.execute(
            insert(AssetState)
            .values(
                bundle_name=bundle,
                asset_uri=uri,
                key=key,
                value=value,
                expires_at=expires_at,
                updated_at=now,
            )
            .on_conflict_do_update(
                index_elements=[AssetState.bundle_name, AssetState.asset_uri, AssetState.key],
                set_={"value": value, "expires_at": expires_at, "updated_at": now},
            )
        )
        session.commit()

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
        bundle, uri = _declared_asset(request, session, dag_cache, ti_id, uri)
        session.execute(
            sql_delete(AssetState).where(*_asset_scope(bundle, uri), AssetState.key == key)
        )
        session.commit()

    @delete("/", operation_id="ClearAssetState", sync_to_thread=True, status_code=204)
    def clear(
        self,
        request: Request[Any, Any, Any],
        ti_id: FromPath[str],
        uri: AssetUri,
        session: NamedDependency[Session],
        dag_cache: NamedDependency[DagCache],
    ) -> None:
        bundle, uri = _declared_asset(request, session, dag_cache, ti_id, uri)
        session.execute(sql_delete(AssetState).where(*_asset_scope(bundle, uri)))
        session.commit()


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
