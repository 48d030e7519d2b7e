"""Event triggers for asset watchers (``Asset(..., watchers=[AssetWatcher(name, trigger)])``).

Each runs in the triggerer for as long as its watcher is leased, yields one
:class:`~airlock.sdk.bases.trigger.ExternalEvent` per external message (batched where the
client reads batches) with the source's dedup key, and acks or commits the message only after
the ``yield`` returned, i.e. after the Internal API stored the event. Broker clients are
optional extras of ``airlock-sdk`` (``redis``, ``rabbitmq``, ``nats``, ``mqtt``, ``kafka``);
each is imported only when its trigger runs. Credentials come from Airlock connections
(``conn_id``), never from the DAG file.
"""

from airlock.sdk.bases.trigger import EventBatch, ExternalEvent, SourceStatus
from airlock.sdk.triggers.events.redis_stream import RedisStreamTrigger

__all__ = ["EventBatch", "ExternalEvent", "RedisStreamTrigger", "SourceStatus"]
