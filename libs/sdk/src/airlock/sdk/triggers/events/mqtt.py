"""MQTT: a persistent session subscribed at QoS 1; each message becomes one asset event.

The client acks (``PUBACK``) a message only after it was stored (paho's manual acks), so a
client that dies before acking gets it again from the broker when its session resumes: the
session is persistent (``clean_session`` false) under a client id fixed per watcher, so the
next holder resumes it. MQTT has no message id that survives a redelivery, so the dedup key is
the topic plus the SHA-256 of the payload: identical payloads on one topic count as one event
(publishers that repeat payloads should make them unique, e.g. with an id field).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from airlock.sdk.bases.trigger import (
    BaseEventTrigger,
    ExternalEvent,
    SourceStatus,
    TriggerEvent,
    classpath_of,
)
from airlock.sdk.triggers.events._base import reconnect_forever, safe_url


def _payload(raw: Any) -> Any:
    if isinstance(raw, bytes | bytearray):
        try:
            return json.loads(raw)
        except ValueError:
            return bytes(raw).decode("utf-8", "replace")
    return raw


class MqttTrigger(BaseEventTrigger):
    """Subscribe to ``topic`` at QoS 1 as client ``client_id`` (a persistent session) on
    connection ``conn_id`` (type ``mqtt``: host, port, login, password)."""

    def __init__(
        self, topic: str, *, client_id: str, conn_id: str = "mqtt_default", qos: int = 1
    ) -> None:
        self.topic = topic
        self.client_id = client_id
        self.conn_id = conn_id
        self.qos = qos

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return classpath_of(self), {
            "topic": self.topic,
            "client_id": self.client_id,
            "conn_id": self.conn_id,
            "qos": self.qos,
        }

    async def run(self) -> AsyncIterator[TriggerEvent | Any]:
        import aiomqtt

        conn = self.get_connection(self.conn_id)
        url = safe_url("mqtt", conn.host, conn.port or 1883, self.topic)
        errors = (aiomqtt.MqttError, OSError, TimeoutError)
        async for item in reconnect_forever(url, errors, lambda: self._session(conn)):
            yield item

    async def _session(self, conn: Any) -> AsyncGenerator[TriggerEvent | SourceStatus, None]:
        import aiomqtt

        client = aiomqtt.Client(
            conn.host or "localhost",
            conn.port or 1883,
            username=conn.login or None,
            password=conn.password or None,
            identifier=self.client_id,
            clean_session=False,
            timeout=10,
        )
        # Ack only when told: after the event is stored (paho's manual acks).
        client._client.manual_ack_set(True)
        async with client:
            await client.subscribe(self.topic, qos=self.qos)
            yield SourceStatus("running")
            async for message in client.messages:
                digest = hashlib.sha256(bytes(message.payload or b"")).hexdigest()
                topic = str(message.topic)
                yield ExternalEvent(
                    f"{topic}:{digest}",
                    {"topic": topic, "payload": _payload(message.payload)},
                )
                if message.qos > 0:
                    client._client.ack(message.mid, message.qos)
