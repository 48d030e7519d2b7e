"""Event triggers for asset watchers (``Asset(..., watchers=[AssetWatcher(name, trigger)])``).

Each runs in the triggerer for as long as its watcher is leased, yields one
:class:`~airlock.sdk.bases.trigger.ExternalEvent` per external message (batched where the
client reads batches) with the source's dedup key, and acks or commits the message only after
the ``yield`` returned, i.e. after the Internal API stored the event. Broker clients are
optional extras of ``airlock-sdk`` (``redis``, ``rabbitmq``, ``nats``, ``mqtt``, ``kafka``,
``sql``);
each is imported only when its trigger runs. Credentials come from Airlock connections
(``conn_id``), never from the DAG file.
"""

from airlock.sdk.bases.trigger import EventBatch, ExternalEvent, SourceStatus
from airlock.sdk.triggers.events.folder import FolderTrigger
from airlock.sdk.triggers.events.kafka import KafkaTrigger
from airlock.sdk.triggers.events.mqtt import MqttTrigger
from airlock.sdk.triggers.events.nats_jetstream import NatsJetStreamTrigger
from airlock.sdk.triggers.events.rabbitmq import RabbitMQTrigger
from airlock.sdk.triggers.events.redis_stream import RedisStreamTrigger
from airlock.sdk.triggers.events.sql import SqlPollTrigger

__all__ = [
    "EventBatch",
    "ExternalEvent",
    "FolderTrigger",
    "KafkaTrigger",
    "MqttTrigger",
    "NatsJetStreamTrigger",
    "RabbitMQTrigger",
    "RedisStreamTrigger",
    "SourceStatus",
    "SqlPollTrigger",
]
