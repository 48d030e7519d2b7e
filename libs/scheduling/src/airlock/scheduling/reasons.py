"""Why the control plane changed a task instance's state on its own: a missed heartbeat, an
execution timeout, a person marking or clearing it (DESIGN §8).

A runner says why its task failed in its own log; a change the control plane makes has no runner
to say it. :func:`record_reason` writes the reason where a person looks: on the task instance
(``state_reason``, shown by the Web API and the CLI), on the history row of the try it ended (if
that try is archived), and as a line at the end of that try's log, through the same
``log_chunk`` table the worker ships to. The control plane's chunks are numbered from
:data:`SEQ_BASE`, apart from the runner's own numbering, so neither is taken for a duplicate of
the other and they follow what the runner shipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from airlock.db import LogChunk
from airlock.scheduling.tables import TI, TI_HISTORY, connection

LOG_CHUNK = cast(Table, LogChunk.__table__)
#: The first sequence number of the control plane's log chunks in a try.
SEQ_BASE = 1 << 30
#: What starts each of its lines.
PREFIX = "[airlock]"


def describe(task_id: str, map_index: int, dag_id: str, run_id: str, try_number: int) -> str:
    """A task instance as a reason names it: ``t[3] of dag/run, try 2``."""
    index = f"[{map_index}]" if map_index >= 0 else ""
    return f"{task_id}{index} of {dag_id}/{run_id}, try {try_number}"


def record_reason(
    session: Session, ti_id: str, try_number: int, reason: str, now: dt.datetime
) -> None:
    """Record ``reason`` for the latest change of ``ti_id``'s state, made to try
    ``try_number``. The caller commits."""
    record_reasons(session, [(ti_id, try_number)], reason, now)


def record_reasons(
    session: Session, tries: Sequence[tuple[str, int]], reason: str, now: dt.datetime
) -> None:
    """:func:`record_reason` for several task instances (``(id, try_number)`` each), in a fixed
    number of statements."""
    if not tries:
        return
    db = connection(session)
    ids = [ti_id for ti_id, _ in tries]
    db.execute(
        update(TI).where(TI.c.id == bindparam("b_id")).values(state_reason=reason),
        [{"b_id": ti_id} for ti_id in ids],
    )
    db.execute(
        update(TI_HISTORY)
        .where(
            TI_HISTORY.c.task_instance_id == bindparam("b_id"),
            TI_HISTORY.c.try_number == bindparam("b_try"),
        )
        .values(state_reason=reason),
        [{"b_id": ti_id, "b_try": number} for ti_id, number in tries],
    )
    started = [(ti_id, number) for ti_id, number in tries if number >= 1]
    if not started:
        return  # never started: there is no try's log to write to
    last = dict(
        db.execute(
            select(LOG_CHUNK.c.task_instance_id, func.max(LOG_CHUNK.c.seq))
            .where(
                LOG_CHUNK.c.task_instance_id.in_(bindparam("ids", expanding=True)),
                LOG_CHUNK.c.seq >= SEQ_BASE,
            )
            .group_by(LOG_CHUNK.c.task_instance_id),
            {"ids": [ti_id for ti_id, _ in started]},
        ).all()
    )
    line = f"{now.isoformat(timespec='seconds')} {PREFIX} {reason}"
    db.execute(
        insert(LOG_CHUNK),
        [
            {
                "task_instance_id": ti_id,
                "try_number": number,
                # (one seq per task instance across its tries: still apart from the runner's)
                "seq": last[ti_id] + 1 if ti_id in last else SEQ_BASE,
                "lines": line,
                "created_at": now,
            }
            for ti_id, number in started
        ],
    )
