"""RabbitMQ (AMQP 0-9-1): consume a durable queue with manual acks; each message becomes one
asset event.

Messages are taken as they arrive (up to ``prefetch`` unacked at once), handed over in batches
of what is waiting, and acked only after they were stored (``basic.ack`` with ``multiple`` up to
the batch's last delivery tag). A consumer that dies before acking leaves its messages unacked:
RabbitMQ redelivers them to the next holder. The dedup key is the message's ``message_id``
property (publishers should set one); without it, the SHA-256 of the body, so identical bodies
without an id count as one event.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
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
from airlock.sdk.triggers.events._base import reconnect_forever, safe_url


def _body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


async def _next_or_closed(arrived: asyncio.Queue[Any], closed: asyncio.Event) -> Any:
    """The next delivered message, or ``ConnectionError`` once the connection closed."""
    getting = asyncio.ensure_future(arrived.get())
    closing = asyncio.ensure_future(closed.wait())
    try:
        await asyncio.wait([getting, closing], return_when=asyncio.FIRST_COMPLETED)
    finally:
        closing.cancel()
        if not getting.done():
            getting.cancel()
    if getting.done() and not getting.cancelled():
        return getting.result()
    raise ConnectionError("the connection closed")


class RabbitMQTrigger(BaseEventTrigger):
    """Consume ``queue`` (declared durable if missing) on connection ``conn_id`` (type
    ``amqp``: host, port, login, password, schema = virtual host)."""

    def __init__(
        self,
        queue: str,
        *,
        conn_id: str = "rabbitmq_default",
        prefetch: int = 1000,
        batch: int = 500,
    ) -> None:
        self.queue = queue
        self.conn_id = conn_id
        self.prefetch = prefetch
        self.batch = batch

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return classpath_of(self), {
            "queue": self.queue,
            "conn_id": self.conn_id,
            "prefetch": self.prefetch,
            "batch": self.batch,
        }

    async def run(self) -> AsyncIterator[TriggerEvent | Any]:
        from aio_pika.exceptions import AMQPError

        conn = self.get_connection(self.conn_id)
        vhost = conn.schema or "/"
        url = safe_url("amqp", conn.host, conn.port or 5672, f"{vhost}/{self.queue}")
        errors = (AMQPError, ConnectionError, OSError, TimeoutError)
        async for item in reconnect_forever(url, errors, lambda: self._session(conn, vhost)):
            yield item

    async def _session(
        self, conn: Any, vhost: str
    ) -> AsyncGenerator[TriggerEvent | SourceStatus, None]:
        import aio_pika

        connection = None
        try:
            connection = await aio_pika.connect(
                host=conn.host or "localhost",
                port=conn.port or 5672,
                login=conn.login or "guest",
                password=conn.password or "guest",
                virtualhost=vhost,
                timeout=10,
            )
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self.prefetch)
            queue = await channel.declare_queue(self.queue, durable=True)
            arrived: asyncio.Queue[Any] = asyncio.Queue()
            # A connection the broker (or the network) dropped says so here, at once.
            closed = asyncio.Event()
            connection.close_callbacks.add(lambda *_, closed=closed: closed.set())
            await queue.consume(arrived.put, no_ack=False)
            yield SourceStatus("running")
            while True:
                first = await _next_or_closed(arrived, closed)
                messages = [first]
                while len(messages) < self.batch and not arrived.empty():
                    messages.append(arrived.get_nowait())
                yield EventBatch([self._event(m) for m in messages])
                # Stored: ack the batch (every earlier tag on this channel is in it or acked).
                await messages[-1].ack(multiple=True)
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):  # closing a broken client may raise
                    await connection.close()

    def _event(self, message: Any) -> ExternalEvent:
        key = message.message_id or hashlib.sha256(message.body).hexdigest()
        extra: dict[str, Any] = {"body": _body(message.body)}
        if message.routing_key:
            extra["routing_key"] = message.routing_key
        if message.redelivered:
            extra["redelivered"] = True
        return ExternalEvent(f"{self.queue}:{key}", extra)
