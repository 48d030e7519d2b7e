"""Core tables and statements built once, for the Execution API's per-task calls (DESIGN §7).

Building a SQLAlchemy statement and its cache key costs more than SQLite takes to run it, and an
ORM-enabled statement adds the ORM's bookkeeping: what runs for every task (hand-out, start) uses
statements built at import time with ``bindparam`` placeholders, executed on the session's
connection (the same transaction).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Table, bindparam, literal, select

from airlock.db import Dag, DagRun, RevokedToken, TaskInstance, Worker, XCom

#: A result row of any width.
AnyRow = Row[*tuple[Any, ...]]

TI = cast(Table, TaskInstance.__table__)
DAG_RUN = cast(Table, DagRun.__table__)
DAG = cast(Table, Dag.__table__)
XCOM = cast(Table, XCom.__table__)
REVOKED_TOKEN = cast(Table, RevokedToken.__table__)
WORKER = cast(Table, Worker.__table__)


def one_of(column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN (<constants>)`` whose parameters are bound once: a plain ``in_`` of a list is
    an *expanding* parameter, whose SQL is rendered again at every execution."""
    return column.in_([literal(value, column.type) for value in values])


#: What :func:`airlock.execution.dag_runs.dag_run_info` reads of a run.
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
)

RUN_INFO = select(*RUN_INFO_COLUMNS).where(
    DAG_RUN.c.dag_id == bindparam("dag_id"), DAG_RUN.c.run_id == bindparam("run_id")
)
