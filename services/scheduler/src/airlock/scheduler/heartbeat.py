"""The scheduler's sign of life: its ``component_heartbeat`` row (kind ``scheduler``)."""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

from sqlalchemy.orm import Session

from airlock.db import ComponentHeartbeat, upsert_insert

KIND = "scheduler"


def beat(session: Session, name: str, now: dt.datetime, *, starting: bool = False) -> None:
    """Upsert the row; ``starting`` also resets ``started_at`` and the host/pid info."""
    values: dict[str, Any] = {
        "kind": KIND,
        "name": name,
        "started_at": now,
        "last_heartbeat_at": now,
        "info": {"hostname": socket.gethostname(), "pid": os.getpid()},
    }
    dialect = session.get_bind().dialect.name
    insert = upsert_insert(dialect)
    statement = insert(ComponentHeartbeat).values(values)
    changes: dict[str, Any] = {"last_heartbeat_at": now}
    if starting:
        changes |= {"started_at": now, "info": statement.excluded.info}
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[ComponentHeartbeat.kind, ComponentHeartbeat.name], set_=changes
        )
    )
