"""NATS JetStream: a durable pull consumer; each message becomes one asset event.

Messages are fetched in batches, stored, then acked one by one (JetStream acks per message). A
message not acked within the consumer's ``ack_wait`` is redelivered (to the next holder after a
crash). The dedup key is the message's stream sequence, which a redelivery keeps.
"""

from __future__ import annotations

import contextlib
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


def _data(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


class NatsJetStreamTrigger(BaseEventTrigger):
    """Pull ``subject`` from JetStream ``stream`` through durable consumer ``durable`` on
    connection ``conn_id`` (type ``nats``: host, port, login/password or password = token)."""

    def __init__(
        self,
        subject: str,
        *,
        stream: str,
        durable: str = "airlock",
        conn_id: str = "nats_default",
        batch: int = 500,
        ack_wait_s: float = 30.0,
    ) -> None:
        self.subject = subject
        self.stream = stream
        self.durable = durable
        self.conn_id = conn_id
        self.batch = batch
        self.ack_wait_s = ack_wait_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return classpath_of(self), {
            "subject": self.subject,
            "stream": self.stream,
            "durable": self.durable,
            "conn_id": self.conn_id,
            "batch": self.batch,
            "ack_wait_s": self.ack_wait_s,
        }

    async def run(self) -> AsyncIterator[TriggerEvent | Any]:
        from nats.errors import Error as NatsError

        conn = self.get_connection(self.conn_id)
        url = safe_url("nats", conn.host, conn.port or 4222)
        errors = (NatsError, ConnectionError, OSError, TimeoutError)
        async for item in reconnect_forever(url, errors, lambda: self._session(conn)):
            yield item

    async def _session(self, conn: Any) -> AsyncGenerator[TriggerEvent | SourceStatus, None]:
        import nats
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.api import ConsumerConfig

        server = f"nats://{conn.host or 'localhost'}:{conn.port or 4222}"
        client = None
        try:
            auth: dict[str, Any] = {}
            if conn.login:
                auth = {"user": conn.login, "password": conn.password}
            elif conn.password:
                auth = {"token": conn.password}
            client = await nats.connect(
                server,
                connect_timeout=5,
                allow_reconnect=False,
                max_reconnect_attempts=0,
                **auth,
            )
            js = client.jetstream()
            subscription = await js.pull_subscribe(
                self.subject,
                durable=self.durable,
                stream=self.stream,
                config=ConsumerConfig(ack_wait=self.ack_wait_s),
            )
            yield SourceStatus("running")
            while True:
                if client.is_closed:
                    raise ConnectionError("the connection closed")
                try:
                    messages = await subscription.fetch(self.batch, timeout=1)
                except NatsTimeout:
                    continue
                if not messages:
                    continue
                yield EventBatch(
                    [
                        ExternalEvent(
                            f"{self.stream}:{m.metadata.sequence.stream}",
                            {"subject": m.subject, "data": _data(m.data)},
                        )
                        for m in messages
                    ]
                )
                for message in messages:
                    await message.ack()
                yield SourceStatus("running", lag=messages[-1].metadata.num_pending)
        finally:
            if client is not None and not client.is_closed:
                with contextlib.suppress(Exception):  # closing a broken client may raise
                    await client.close()
