"""Task instances of one run as plain rows in memory, and writing back what changed, in bulk.

A scheduling pass reads every task instance of the run in one query, decides in memory, then
writes the differences with one ``UPDATE … WHERE id IN (…) AND state = <old>`` per kind of change
and one multi-row ``INSERT`` for new instances: the number of statements depends on how many
*kinds* of change there were, never on how many task instances changed (DESIGN §7). The rows are
not ORM objects, so nothing is left stale in the caller's identity map.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Update, bindparam, insert, select, update
from sqlalchemy.orm import Session

from airlock.db import new_task_instance_id, upsert_insert
from airlock.models.dag import SerializedTask
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling.tables import TI, connection

log = logging.getLogger(__name__)

#: Bound on ids per ``IN (…)`` list (SQLite allows 32766 parameters per statement).
CHUNK = 500


@dataclass(slots=True)
class TiRow:
    id: str
    task_id: str
    map_index: int
    state: TIS | None
    try_number: int = 0
    max_tries: int = 0
    next_retry_at: dt.datetime | None = None
    pool: str = "default_pool"
    pool_slots: int = 1
    priority_weight: int = 1
    #: What the row was when read (to write only differences, conditionally).
    original_state: TIS | None = None
    original_map_index: int = -1
    is_new: bool = False
    #: Why the pass set this state, when it is not obvious (a failed expansion).
    reason: str | None = field(default=None, compare=False)

    @property
    def changed(self) -> bool:
        return self.state != self.original_state or self.map_index != self.original_map_index


_COLUMNS = (
    TI.c.id,
    TI.c.task_id,
    TI.c.map_index,
    TI.c.state,
    TI.c.try_number,
    TI.c.max_tries,
    TI.c.next_retry_at,
    TI.c.pool,
    TI.c.pool_slots,
    TI.c.priority_weight,
)
_OF_RUN = select(*_COLUMNS).where(
    TI.c.dag_id == bindparam("dag_id"), TI.c.run_id == bindparam("run_id")
)
_OF_RUN_TASKS = _OF_RUN.where(TI.c.task_id.in_(bindparam("task_ids", expanding=True)))


def load_rows(
    session: Session, dag_id: str, run_id: str, task_ids: Collection[str] | None = None
) -> list[TiRow]:
    """The run's task instances (only those of ``task_ids``, when given)."""
    params: dict[str, Any] = {"dag_id": dag_id, "run_id": run_id}
    statement = _OF_RUN
    wanted: Collection[str] | None = None
    if task_ids is not None and len(task_ids) <= CHUNK:
        statement = _OF_RUN_TASKS
        params["task_ids"] = sorted(task_ids)
    elif task_ids is not None:  # too many to list: read the run, keep theirs
        wanted = set(task_ids)
    return [
        TiRow(
            id=r.id,
            task_id=r.task_id,
            map_index=r.map_index,
            state=r.state,
            try_number=r.try_number,
            max_tries=r.max_tries,
            next_retry_at=r.next_retry_at,
            pool=r.pool,
            pool_slots=r.pool_slots,
            priority_weight=r.priority_weight,
            original_state=r.state,
            original_map_index=r.map_index,
        )
        for r in connection(session).execute(statement, params)
        if wanted is None or r.task_id in wanted
    ]


def new_row(task: SerializedTask, map_index: int) -> TiRow:
    return TiRow(
        id=new_task_instance_id(),
        task_id=task.task_id,
        map_index=map_index,
        state=None,
        max_tries=task.retries,
        pool=task.pool,
        pool_slots=task.pool_slots,
        priority_weight=task.priority_weight_total,
        original_map_index=map_index,
        is_new=True,
    )


def insert_rows(
    session: Session,
    rows: Iterable[TiRow],
    *,
    dag_id: str,
    run_id: str,
    dag_version_id: int,
    tasks: Mapping[str, SerializedTask],
    now: dt.datetime,
    skip_existing: bool = False,
) -> None:
    """Insert ``rows`` as new task instances of the run; with ``skip_existing``, one another
    transaction created meanwhile (same task and map index) is left as it is."""
    values = []
    for row in rows:
        task = tasks[row.task_id]
        values.append(
            {
                "id": row.id,
                "dag_id": dag_id,
                "run_id": run_id,
                "task_id": row.task_id,
                "map_index": row.map_index,
                "state": row.state,
                "try_number": 0,
                "max_tries": row.max_tries,
                "pool": row.pool,
                "pool_slots": row.pool_slots,
                "queue": task.queue,
                "priority_weight": row.priority_weight,
                "operator": task.operator_name,
                "dag_version_id": dag_version_id,
                "state_reason": row.reason,
                **_terminal_dates(row.state, now),
            }
        )
        row.original_state = row.state
        row.original_map_index = row.map_index
        row.is_new = False
    if values:
        # A Core executemany: the ORM's bulk insert costs as much again per row in Python, and on
        # SQLite that time is spent holding the one write lock.
        statement = insert(TI)
        if skip_existing:
            statement = upsert_insert(session.get_bind().dialect.name)(TI).on_conflict_do_nothing(
                index_elements=["dag_id", "run_id", "task_id", "map_index"]
            )
        connection(session).execute(statement, values)


def _terminal_dates(state: TIS | None, now: dt.datetime) -> dict[str, Any]:
    if state is TIS.SUCCESS:  # an empty task: done without running
        return {"start_date": now, "end_date": now, "duration": 0.0}
    if state in (TIS.SKIPPED, TIS.UPSTREAM_FAILED, TIS.FAILED, TIS.REMOVED):
        return {"end_date": now}
    return {}


@functools.cache
def _move_statement(from_no_state: bool, keys: tuple[str, ...]) -> Update:
    """``UPDATE task_instance SET <keys> WHERE id IN :ids AND state = :old`` (or no state)."""
    state_is = TI.c.state.is_(None) if from_no_state else TI.c.state == bindparam("old")
    return (
        update(TI)
        .where(TI.c.id.in_(bindparam("ids", expanding=True)), state_is)
        .values({key: bindparam(f"new_{key}") for key in keys})
    )


@functools.cache
def _move_one_statement(from_no_state: bool, keys: tuple[str, ...]) -> Update:
    """:func:`_move_statement` for one id (an expanding ``IN`` is rendered at every execution)."""
    state_is = TI.c.state.is_(None) if from_no_state else TI.c.state == bindparam("old")
    return (
        update(TI)
        .where(TI.c.id == bindparam("ti_id"), state_is)
        .values({key: bindparam(f"new_{key}") for key in keys})
    )


def write_changes(session: Session, rows: Sequence[TiRow], now: dt.datetime) -> int:
    """Write the state (and map index) changes of existing rows; the number of rows moved."""
    groups: dict[tuple[TIS | None, TIS | None, bool, str | None], list[TiRow]] = defaultdict(list)
    for row in rows:
        if not row.is_new and row.changed:
            remapped = row.map_index != row.original_map_index
            groups[(row.original_state, row.state, remapped, row.reason)].append(row)
    moved = 0
    for (old, new, remapped, reason), members in groups.items():
        values: dict[str, Any] = {"state": new, **_terminal_dates(new, now)}
        if reason is not None:
            values["state_reason"] = reason
        if remapped:  # a mapped task's placeholder (map index -1) becomes its index 0
            values["map_index"] = 0
        params = {f"new_{key}": value for key, value in values.items()}
        if old is not None:
            params["old"] = old
        for start in range(0, len(members), CHUNK):
            ids = [row.id for row in members[start : start + CHUNK]]
            if len(ids) == 1:
                statement = _move_one_statement(old is None, tuple(values))
                result = connection(session).execute(statement, {**params, "ti_id": ids[0]})
            else:
                statement = _move_statement(old is None, tuple(values))
                result = connection(session).execute(statement, {**params, "ids": ids})
            moved += result.rowcount
            if result.rowcount != len(ids):
                log.warning(
                    "%d of %d task instances left state %s before the scheduler moved them to %s",
                    len(ids) - result.rowcount,
                    len(ids),
                    old,
                    new,
                )
        for row in members:
            row.original_state = row.state
            row.original_map_index = row.map_index
    return moved
