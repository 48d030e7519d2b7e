"""Redis Streams: a consumer group on one stream; each entry becomes one asset event.

Entries are read with ``XREADGROUP`` (up to ``batch`` at a time), stored through the triggerer,
and only then ``XACK``-ed. The consumer name is fixed per watcher (one triggerer holds a watcher
at a time), so after a crash the next holder first reads the entries still pending for it and
stores them again — the entry id is the dedup key (``<stream>:<id>``), so none is doubled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from airlock.sdk.bases.trigger import (
    BaseEventTrigger,
    EventBatch,
    ExternalEvent,
    SourceStatus,
    TriggerEvent,
    classpath_of,
)
from airlock.sdk.triggers.events._base import decode_text, reconnect_forever, safe_url

#: How often the group's lag is read and reported.
LAG_EVERY_S = 5.0


class RedisStreamTrigger(BaseEventTrigger):
    """Watch ``stream`` as consumer ``consumer`` of group ``group`` (created at ``start_id``,
    ``"0"``: the whole stream, ``"$"``: only new entries). Connection ``conn_id`` (type
    ``redis``: host, port, password, schema = db number)."""

    def __init__(
        self,
        stream: str,
        *,
        conn_id: str = "redis_default",
        group: str = "airlock",
        consumer: str = "airlock",
        start_id: str = "0",
        batch: int = 500,
        block_ms: int = 1000,
    ) -> None:
        self.stream = stream
        self.conn_id = conn_id
        self.group = group
        self.consumer = consumer
        self.start_id = start_id
        self.batch = batch
        self.block_ms = block_ms

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return classpath_of(self), {
            "stream": self.stream,
            "conn_id": self.conn_id,
            "group": self.group,
            "consumer": self.consumer,
            "start_id": self.start_id,
            "batch": self.batch,
            "block_ms": self.block_ms,
        }

    async def run(self) -> AsyncIterator[TriggerEvent | Any]:
        from redis.exceptions import ConnectionError, TimeoutError

        conn = self.get_connection(self.conn_id)
        db = int(conn.schema) if conn.schema and str(conn.schema).isdigit() else 0
        url = safe_url("redis", conn.host, conn.port or 6379, f"{db}/{self.stream}")
        errors = (ConnectionError, TimeoutError, OSError)
        async for item in reconnect_forever(url, errors, lambda: self._session(conn, db)):
            yield item

    async def _session(
        self, conn: Any, db: int
    ) -> AsyncGenerator[TriggerEvent | SourceStatus, None]:
        import redis.asyncio as aioredis
        from redis.exceptions import ResponseError

        client = aioredis.Redis(
            host=conn.host or "localhost",
            port=conn.port or 6379,
            db=db,
            username=conn.login or None,
            password=conn.password or None,
            socket_connect_timeout=5,
        )
        try:
            try:
                await client.xgroup_create(self.stream, self.group, id=self.start_id, mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            yield SourceStatus("running", lag=await self._lag(client))
            async for item in self._consume(client):
                yield item
        finally:
            await client.aclose()

    async def _consume(self, client: Any) -> AsyncGenerator[TriggerEvent | SourceStatus, None]:
        # First what this consumer was given and never acked (a crash before the ack), then new.
        last_id = "0"
        lag_at = asyncio.get_running_loop().time()
        while True:
            block = None if last_id == "0" else self.block_ms
            reply = await client.xreadgroup(
                self.group, self.consumer, {self.stream: last_id}, count=self.batch, block=block
            )
            entries = reply[0][1] if reply else []
            if last_id == "0" and not entries:
                last_id = ">"
                continue
            if entries:
                events = [
                    ExternalEvent(
                        f"{self.stream}:{decode_text(entry_id)}",
                        {
                            "stream_id": decode_text(entry_id),
                            **{decode_text(k): decode_text(v) for k, v in (fields or {}).items()},
                        },
                    )
                    for entry_id, fields in entries
                ]
                yield EventBatch(events)
                # Stored: now the entries may go.
                await client.xack(self.stream, self.group, *[e for e, _ in entries])
            now = asyncio.get_running_loop().time()
            if now - lag_at >= LAG_EVERY_S:
                lag_at = now
                yield SourceStatus("running", lag=await self._lag(client))

    async def _lag(self, client: Any) -> int | None:
        try:
            for group in await client.xinfo_groups(self.stream):
                name = decode_text(group.get("name"))
                if name == self.group:
                    lag = group.get("lag")
                    return int(lag) if lag is not None else None
        except Exception:  # lag is informative only; an older Redis may not report it
            return None
        return None
