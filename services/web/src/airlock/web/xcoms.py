"""XComs of a task instance, read-only: what a task published for later tasks of its run.

Values are the JSON documents the SDK stored; they are returned parsed (``value``), so a client
reads them like any other field, with the secrets the DAG's tasks can read masked
(:mod:`airlock.web.xcom_masking`).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, require_user_role
from airlock.core.tokens import UserRole
from airlock.db import SecretBox, XCom
from airlock.models.web_xcoms import XComCollection, XComEntry
from airlock.web.access import visible_dag
from airlock.web.listing import Offset, Sorting, page_of
from airlock.web.xcom_masking import XComMasker

XCOM_SORT = Sorting(
    {"key": XCom.key, "map_index": XCom.map_index, "timestamp": XCom.timestamp},
    default="key",
    tiebreak=[XCom.map_index],
)


class XComController(Controller):
    path = "/dags/{dag_id:str}/dagRuns/{run_id:str}/taskInstances/{task_id:str}/xcomEntries"
    tags = ["xcoms"]
    guards = [require_user_role(UserRole.VIEWER)]

    @get("/", operation_id="ListXComEntries", sync_to_thread=True)
    def list_xcoms(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        task_id: FromPath[str],
        session: NamedDependency[Session],
        secret_box: NamedDependency[SecretBox],
        map_index: FromQuery[int | None] = None,
        limit: FromQuery[int | None] = None,
        offset: Offset = None,
        order_by: FromQuery[str | None] = None,
    ) -> XComCollection:
        order = XCOM_SORT.parse(order_by)
        dag = visible_dag(request, session, dag_id)
        query = select(XCom).where(
            XCom.dag_id == dag_id, XCom.run_id == run_id, XCom.task_id == task_id
        )
        if map_index is not None:
            query = query.where(XCom.map_index == map_index)
        rows, total = page_of(session, query, order, limit, offset)
        masker = XComMasker(session, dag.bundle_name, secret_box) if rows else None
        entries = [_entry(x, masker) for x in rows] if masker is not None else []
        return XComCollection(xcom_entries=entries, total_entries=total)

    @get("/{key:str}", operation_id="GetXComEntry", sync_to_thread=True)
    def get_xcom(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        run_id: FromPath[str],
        task_id: FromPath[str],
        key: FromPath[str],
        session: NamedDependency[Session],
        secret_box: NamedDependency[SecretBox],
        map_index: FromQuery[int] = -1,
    ) -> XComEntry:
        dag = visible_dag(request, session, dag_id)
        row = session.get(XCom, (dag_id, run_id, task_id, map_index, key))
        if row is None:
            raise Problem(
                404,
                f"task {task_id!r} (map index {map_index}) of run {run_id!r} has no XCom {key!r}",
                slug="xcom-not-found",
            )
        return _entry(row, XComMasker(session, dag.bundle_name, secret_box))


def _entry(row: XCom, masker: XComMasker) -> XComEntry:
    try:
        value = msgspec.json.decode(row.value)
    except msgspec.DecodeError:
        value = row.value
    return XComEntry(
        dag_id=row.dag_id,
        run_id=row.run_id,
        task_id=row.task_id,
        map_index=row.map_index,
        key=row.key,
        timestamp=row.timestamp,
        value=masker.mask(value, row.key),
    )
