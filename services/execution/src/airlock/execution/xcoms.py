"""XComs for running tasks: push for the task's own instance while its try runs, pull from any task of a DAG in the
task's bundle (in practice, of its own run).

The value is stored as the JSON text the runner sent; pushing the same key again replaces it, so
a retried push is harmless.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Request, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of, require_kind
from airlock.core.tokens import TokenKind
from airlock.db import XCom, upsert_insert
from airlock.execution.access import (
    Ident,
    XComKey,
    bundle_dag,
    check_open_try,
    own_task_instance,
    token_bundle,
)
from airlock.models.execution import XComValue


@put(
    "/task-instances/{ti_id:str}/xcoms/{key:str}",
    operation_id="PushXCom",
    guards=[own_task_instance],
    sync_to_thread=True,
    status_code=204,
    tags=["xcoms"],
)
def push_xcom(
    request: Request[Any, Any, Any],
    ti_id: FromPath[str],
    key: XComKey,
    data: JSONBody[XComValue],
    session: NamedDependency[Session],
) -> None:
    if data.key != key:
        raise Problem(
            422, f"body names key {data.key!r} but the path names {key!r}", slug="key-mismatch"
        )
    ti = check_open_try(session, ti_id, claims_of(request).try_number)
    value = msgspec.json.encode(data.value).decode()
    now = dt.datetime.now(dt.UTC)
    insert = upsert_insert(session.get_bind().dialect.name)
    statement = insert(XCom).values(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        key=key,
        value=value,
        timestamp=now,
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[XCom.dag_id, XCom.run_id, XCom.task_id, XCom.map_index, XCom.key],
            set_={"value": value, "timestamp": now},
        )
    )
    session.commit()


@get(
    "/xcoms/{dag_id:str}/{run_id:str}/{task_id:str}/{key:str}",
    operation_id="PullXCom",
    guards=[require_kind(TokenKind.TASK)],
    sync_to_thread=True,
    tags=["xcoms"],
)
def pull_xcom(
    request: Request[Any, Any, Any],
    dag_id: Ident,
    run_id: Ident,
    task_id: Ident,
    key: XComKey,
    session: NamedDependency[Session],
    map_index: FromQuery[int | None] = None,
) -> XComValue:
    """One task instance's XCom; without ``map_index``, the unmapped task's value or, for a
    mapped task, the list of every instance's value in map-index order."""
    bundle_dag(session, token_bundle(request), dag_id)
    query = select(XCom.map_index, XCom.value).where(
        XCom.dag_id == dag_id, XCom.run_id == run_id, XCom.task_id == task_id, XCom.key == key
    )
    if map_index is not None:
        query = query.where(XCom.map_index == map_index)
    rows = session.execute(query.order_by(XCom.map_index)).all()
    if not rows:
        where = "" if map_index is None else f" (map index {map_index})"
        raise Problem(
            404,
            f"no XCom {key!r} from task {task_id!r}{where} in run {run_id!r} of DAG {dag_id!r}",
            slug="xcom-not-found",
        )
    if map_index is not None or rows[0][0] < 0:
        return XComValue(key=key, value=msgspec.json.decode(rows[0][1]))
    return XComValue(key=key, value=[msgspec.json.decode(text) for _, text in rows])
