"""The Core tables behind the ORM models, for the statements of hot paths (DESIGN §7).

Building a SQLAlchemy statement and computing its cache key costs more than SQLite takes to run
it; an ORM-enabled statement adds the ORM's own bookkeeping on top. What runs once per task —
ending it, queueing the next, handing it out — therefore uses statements built once at import
time from these tables, with ``bindparam`` placeholders, executed on the session's connection
(the same transaction): only the values change from one execution to the next.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Row, Table, bindparam, literal, select
from sqlalchemy.orm import Session

from airlock.db import Dag, DagRun, Pool, TaskInstance, TaskInstanceHistory, Worker, XCom

#: A result row of any width.
AnyRow = Row[*tuple[Any, ...]]

TI = cast(Table, TaskInstance.__table__)
TI_HISTORY = cast(Table, TaskInstanceHistory.__table__)
DAG_RUN = cast(Table, DagRun.__table__)
DAG = cast(Table, Dag.__table__)
POOL = cast(Table, Pool.__table__)
XCOM = cast(Table, XCom.__table__)
WORKER = cast(Table, Worker.__table__)


def connection(session: Session) -> Connection:
    """The connection of ``session``'s transaction (begun if need be)."""
    return session.connection()


def one_of(column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN (<constants>)`` whose parameters are bound once: a plain ``in_`` of a list is
    an *expanding* parameter, whose SQL is rendered again at every execution."""
    return column.in_([literal(value, column.type) for value in values])


#: What a task needs to know of its run (``airlock.execution``'s ``dag_run_info`` reads these).
RUN_INFO_COLUMNS = (
    DAG_RUN.c.dag_id,
    DAG_RUN.c.run_id,
    DAG_RUN.c.run_type,
    DAG_RUN.c.state,
    DAG_RUN.c.logical_date,
    DAG_RUN.c.data_interval_start,
    DAG_RUN.c.data_interval_end,
    DAG_RUN.c.run_after,
    DAG_RUN.c.start_date,
    DAG_RUN.c.end_date,
    DAG_RUN.c.conf,
    DAG_RUN.c.trace_parent,
)
RUN_INFO = select(*RUN_INFO_COLUMNS).where(
    DAG_RUN.c.dag_id == bindparam("dag_id"), DAG_RUN.c.run_id == bindparam("run_id")
)
