"""Kafka: a consumer group with auto-commit off; each record becomes one asset event.

Records are fetched in batches, stored, and only then is the offset committed (for exactly the
records stored), so a consumer that dies before committing has them redelivered to the group's
next member. The dedup key is ``topic:partition:offset``. **Untested against a real broker** (no
Kafka runs on the machine the tests run on): the contract the other broker triggers are tested
with is tested here against an in-memory stand-in for aiokafka's consumer.
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


def _value(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


class KafkaTrigger(BaseEventTrigger):
    """Consume ``topics`` as group ``group_id`` on connection ``conn_id`` (type ``kafka``: host
    = bootstrap servers, port; login/password for SASL PLAIN)."""

    def __init__(
        self,
        topics: list[str],
        *,
        group_id: str = "airlock",
        conn_id: str = "kafka_default",
        batch: int = 500,
    ) -> None:
        self.topics = list(topics)
        self.group_id = group_id
        self.conn_id = conn_id
        self.batch = batch

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return classpath_of(self), {
            "topics": self.topics,
            "group_id": self.group_id,
            "conn_id": self.conn_id,
            "batch": self.batch,
        }

    async def run(self) -> AsyncIterator[TriggerEvent | Any]:
        from aiokafka.errors import KafkaError

        conn = self.get_connection(self.conn_id)
        servers = conn.host or "localhost"
        if conn.port and "," not in servers and ":" not in servers:
            servers = f"{servers}:{conn.port}"
        url = safe_url("kafka", servers, None, ",".join(self.topics))
        errors = (KafkaError, OSError, TimeoutError)
        async for item in reconnect_forever(url, errors, lambda: self._session(conn, servers)):
            yield item

    async def _session(
        self, conn: Any, servers: str
    ) -> AsyncGenerator[TriggerEvent | SourceStatus, None]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        sasl: dict[str, Any] = {}
        if conn.login:
            sasl = {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "PLAIN",
                "sasl_plain_username": conn.login,
                "sasl_plain_password": conn.password,
            }
        consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=servers,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **sasl,
        )
        try:
            await consumer.start()
            yield SourceStatus("running")
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=self.batch)
                records = [r for rs in batches.values() for r in rs]
                if not records:
                    continue
                yield EventBatch(
                    [
                        ExternalEvent(
                            f"{r.topic}:{r.partition}:{r.offset}",
                            {
                                "topic": r.topic,
                                "partition": r.partition,
                                "offset": r.offset,
                                "value": _value(r.value),
                            },
                        )
                        for r in records
                    ]
                )
                # Stored: commit exactly past what was stored.
                await consumer.commit(
                    {
                        TopicPartition(tp.topic, tp.partition): rs[-1].offset + 1
                        for tp, rs in batches.items()
                        if rs
                    }
                )
        finally:
            with contextlib.suppress(Exception):  # closing a broken client may raise
                await consumer.stop()
