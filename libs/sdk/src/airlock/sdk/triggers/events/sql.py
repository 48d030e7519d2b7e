"""SQL polling: one asset event per new row past a cursor column.

Every ``poll_s`` the trigger asks for rows whose ``cursor_column`` is greater than the last one
stored (``ORDER BY`` it, ``batch`` at a time) and reports each row; the cursor moves only after
the rows were stored. The dedup key is ``table:cursor value``, so a restart (which starts again
from ``start_after``) offers rows already stored again and they come back ``duplicate``. The
cursor column must be unique and increase as rows are added (an id, a sequence).

Connections (``conn_id``): ``postgres`` / ``postgresql`` (asyncpg; the ``sql`` extra) and ``sqlite``
(``host`` or ``schema`` = the database file). Table and column names are checked identifiers,
never interpolated user text.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

from airlock.sdk.bases.trigger import (
    BaseEventTrigger,
    EventBatch,
    ExternalEvent,
    SourceStatus,
    TriggerEvent,
    classpath_of,
)
from airlock.sdk.triggers.events._base import Backoff, reconnecting, safe_url

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class SqlPollTrigger(BaseEventTrigger):
    """New rows of ``table`` past ``cursor_column`` on connection ``conn_id``."""

    def __init__(
        self,
        table: str,
        *,
        cursor_column: str = "id",
        conn_id: str,
        columns: list[str] | None = None,
        start_after: Any = None,
        poll_s: float = 1.0,
        batch: int = 500,
    ) -> None:
        for name in [table, cursor_column, *(columns or [])]:
            if not _IDENTIFIER.match(name):
                raise ValueError(f"{name!r} is not a plain SQL identifier (letters, digits, _)")
        self.table = table
        self.cursor_column = cursor_column
        self.conn_id = conn_id
        self.columns = list(columns or [])
        self.start_after = start_after
        self.poll_s = poll_s
        self.batch = batch

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return classpath_of(self), {
            "table": self.table,
            "cursor_column": self.cursor_column,
            "conn_id": self.conn_id,
            "columns": self.columns,
            "start_after": self.start_after,
            "poll_s": self.poll_s,
            "batch": self.batch,
        }

    def _query(self, placeholder: str, first: bool) -> str:
        columns = ", ".join(self.columns) if self.columns else "*"
        where = "" if first else f" WHERE {self.cursor_column} > {placeholder}"
        return (
            f"SELECT {columns} FROM {self.table}{where} "
            f"ORDER BY {self.cursor_column} LIMIT {int(self.batch)}"
        )

    async def run(self) -> AsyncIterator[TriggerEvent | Any]:
        conn = self.get_connection(self.conn_id)
        kind = conn.conn_type.lower()
        if kind in ("postgres", "postgresql"):
            fetch, url = (
                self._postgres(conn),
                safe_url("postgresql", conn.host, conn.port or 5432, conn.schema or ""),
            )
        elif kind == "sqlite":
            fetch, url = self._sqlite(conn), f"sqlite://{conn.host or conn.schema}"
        else:
            raise ValueError(
                f"connection {self.conn_id!r} has type {conn.conn_type!r}; SqlPollTrigger reads "
                "postgres or sqlite connections"
            )
        cursor = self.start_after
        backoff = Backoff()
        healthy = None
        while True:
            try:
                rows = await fetch(cursor)
            except Exception as exc:  # the database's own errors: report, back off, retry
                healthy = False
                delay = backoff.next()
                yield reconnecting(url, exc, delay)
                await asyncio.sleep(delay)
                continue
            if not healthy:
                healthy = True
                backoff.reset()
                yield SourceStatus("running")
            if rows:
                yield EventBatch(
                    [
                        ExternalEvent(
                            f"{self.table}:{row[self.cursor_column]}",
                            {k: _json_value(v) for k, v in row.items()},
                        )
                        for row in rows
                    ]
                )
                cursor = rows[-1][self.cursor_column]
                if len(rows) == self.batch:
                    continue  # more are waiting
            await asyncio.sleep(self.poll_s)

    def _postgres(self, conn: Any) -> Any:
        import asyncpg

        async def fetch(cursor: Any) -> list[dict[str, Any]]:
            db = await asyncpg.connect(
                host=conn.host or "localhost",
                port=conn.port or 5432,
                user=conn.login or None,
                password=conn.password or None,
                database=conn.schema or None,
                timeout=5,
            )
            try:
                query = self._query("$1", cursor is None)
                rows = await db.fetch(query, *(() if cursor is None else (cursor,)))
                return [dict(row) for row in rows]
            finally:
                await db.close()

        return fetch

    def _sqlite(self, conn: Any) -> Any:
        path = conn.host or conn.schema

        def read(cursor: Any) -> list[dict[str, Any]]:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            try:
                db.row_factory = sqlite3.Row
                query = self._query("?", cursor is None)
                rows = db.execute(query, () if cursor is None else (cursor,)).fetchall()
                return [dict(row) for row in rows]
            finally:
                db.close()

        async def fetch(cursor: Any) -> list[dict[str, Any]]:
            return await asyncio.to_thread(read, cursor)

        return fetch
