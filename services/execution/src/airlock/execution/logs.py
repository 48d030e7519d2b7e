"""``POST /execution/task-instances/{ti_id}/logs``: a runner ships its task's log in batches.

A batch is accepted only from the try the task token runs, while it runs (and shortly after, for
the last lines: :func:`airlock.execution.access.check_open_try`). Each batch carries its try and a
sequence number; a batch sent twice (a retry after a lost
response) is stored once. On SQLite the insert-unless-present is one statement under the write
lock; on PostgreSQL a transaction-scoped advisory lock per task instance serializes the check.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy import func, insert, literal, select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of
from airlock.db import LogChunk
from airlock.execution.access import check_open_try, own_task_instance
from airlock.models.execution import LogBatch


@post(
    "/task-instances/{ti_id:str}/logs",
    operation_id="SendTaskLogs",
    guards=[own_task_instance],
    sync_to_thread=True,
    status_code=204,
    tags=["task instances"],
)
def send_logs(
    request: Request[Any, Any, Any],
    ti_id: FromPath[str],
    data: JSONBody[LogBatch],
    session: NamedDependency[Session],
) -> None:
    token_try = claims_of(request).try_number
    if token_try is not None and data.try_number != token_try:
        raise Problem(
            422,
            f"try_number {data.try_number} is not the try this task token runs ({token_try})",
            slug="invalid-try-number",
        )
    tries = check_open_try(session, ti_id, token_try, for_logs=True).try_number
    # The try a runner is about to start counts too: it may log before it has started.
    if not 1 <= data.try_number <= tries + 1:
        raise Problem(
            422,
            f"try_number {data.try_number} is not a try of task instance {ti_id}, "
            f"which has started {tries}",
            slug="invalid-try-number",
        )
    if not data.lines:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"logs:{ti_id}"))))
    stored = (
        select(LogChunk.id)
        .where(
            LogChunk.task_instance_id == ti_id,
            LogChunk.try_number == data.try_number,
            LogChunk.seq == data.seq,
        )
        .exists()
    )
    row = select(
        literal(ti_id),
        literal(data.try_number),
        literal(data.seq),
        literal("\n".join(data.lines)),
        literal(dt.datetime.now(dt.UTC), LogChunk.created_at.type),
    ).where(~stored)
    session.execute(
        insert(LogChunk).from_select(
            ["task_instance_id", "try_number", "seq", "lines", "created_at"], row
        )
    )
    session.commit()
