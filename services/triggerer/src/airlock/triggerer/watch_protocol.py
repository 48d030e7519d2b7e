"""The channel between the triggerer and its watcher runner (a supervised child, like the trigger
runner, ADR 0012), which runs asset watchers' event triggers for as long as they are leased.

The triggerer sends :class:`RunWatcher` for each watcher it leased (with the connections its
kwargs name, fetched for its bundle), :class:`StopWatcher` when one must stop (its lease moved
on), and :class:`EventsStored` once the events of a :class:`WatcherEvents` message are in the
database (``ok``), or refused (``ok`` false: the trigger is stopped without resuming, so it
never acks). The runner sends :class:`WatcherEvents` (each with the source's dedup key) and
:class:`WatcherStatusReport`. The runner never holds the token.
"""

from __future__ import annotations

from typing import Any

import msgspec

from airlock.models.secrets import ConnectionInfo
from airlock.sdk.execution_time.supervised import Message

#: A watcher's kwargs, or a batch of events, travel in one frame.
MAX_FRAME = 32 * 1024 * 1024


class RunWatcher(Message, frozen=True, tag="run"):
    id: int
    classpath: str
    kwargs: dict[str, Any]
    bundle_root: str
    dag_rel_path: str
    #: ``dag_id/watcher name``, for log lines.
    label: str
    connections: dict[str, ConnectionInfo] = msgspec.field(default_factory=dict)


class StopWatcher(Message, frozen=True, tag="stop"):
    id: int


class EventsStored(Message, frozen=True, tag="stored"):
    id: int
    seq: int
    ok: bool = True


class WatcherEvents(Message, frozen=True, tag="events"):
    id: int
    #: Numbers this watcher's batches; :class:`EventsStored` names it back.
    seq: int
    #: ``[dedup_key, extra]`` pairs.
    events: list[tuple[str, dict[str, Any]]]


class WatcherStatusReport(Message, frozen=True, tag="status"):
    id: int
    state: str
    lag: int | None = None
    error: str | None = None


ToRunner = RunWatcher | StopWatcher | EventsStored
FromRunner = WatcherEvents | WatcherStatusReport

to_runner_decoder = msgspec.msgpack.Decoder(ToRunner)
from_runner_decoder = msgspec.msgpack.Decoder(FromRunner)
