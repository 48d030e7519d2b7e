"""Event triggers for asset watchers, driven directly (no broker, no network): every trigger
rebuilds from what it serializes; the folder watcher and SQL polling report each new or changed
file or row once, with the source's dedup key, and never again for a state that merely persists;
a source that fails is reported ``reconnecting`` with its URL and no password."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from airlock.sdk.bases.trigger import EventBatch, SourceStatus
from airlock.sdk.definitions.connection import Connection
from airlock.sdk.triggers.events import (
    FolderTrigger,
    KafkaTrigger,
    MqttTrigger,
    NatsJetStreamTrigger,
    RabbitMQTrigger,
    RedisStreamTrigger,
    SqlPollTrigger,
)

TRIGGERS = [
    RedisStreamTrigger("s", conn_id="r", batch=10),
    RabbitMQTrigger("q", conn_id="a"),
    NatsJetStreamTrigger("subj", stream="S", conn_id="n"),
    MqttTrigger("t/#", client_id="c", conn_id="m"),
    KafkaTrigger(["topic"], conn_id="k"),
    FolderTrigger("/tmp/in", pattern="*.csv"),
    SqlPollTrigger("orders", cursor_column="id", conn_id="db"),
]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: type(t).__name__)
def test_each_trigger_rebuilds_from_its_serialized_form(trigger: Any) -> None:
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


class Pump:
    """Runs a trigger's generator in a task and collects what it yields (a timeout on the
    generator itself would cancel it)."""

    def __init__(self, run: AsyncIterator[Any]) -> None:
        self.items: asyncio.Queue[Any] = asyncio.Queue()
        self._run = run
        self._task = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        async for item in self._run:
            await self.items.put(item)

    async def take(self, count: int, timeout_s: float = 5) -> list[Any]:
        taken = []
        for _ in range(count):
            getting = asyncio.ensure_future(self.items.get())
            await asyncio.wait(
                [getting, self._task], timeout=timeout_s, return_when="FIRST_COMPLETED"
            )
            if not getting.done():
                getting.cancel()
                if self._task.done():
                    self._task.result()  # the trigger raised: show why
                raise AssertionError(f"the trigger yielded nothing in {timeout_s} s")
            taken.append(getting.result())
        return taken

    async def nothing_more(self, wait_s: float = 0.3) -> bool:
        await asyncio.sleep(wait_s)
        return self.items.empty()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def test_the_folder_watcher_fires_once_per_new_or_changed_file(tmp_path: Path) -> None:
    async def scenario() -> None:
        (tmp_path / "a.csv").write_text("1")
        (tmp_path / "skip.txt").write_text("x")
        run = Pump(FolderTrigger(str(tmp_path), pattern="*.csv", poll_s=0.05).run())
        status, first = await run.take(2)
        assert isinstance(status, SourceStatus)
        assert status.state == "running"
        assert isinstance(first, EventBatch)
        (event,) = first.events
        stat = os.stat(tmp_path / "a.csv")
        assert event.dedup_key == f"{tmp_path / 'a.csv'}:{stat.st_mtime_ns}:{stat.st_size}"
        assert await run.nothing_more()  # still there, unchanged: no second event
        (tmp_path / "a.csv").write_text("1, and more")
        (tmp_path / "b.csv").write_text("2")
        (changed,) = await run.take(1)
        assert sorted(Path(e.payload["path"]).name for e in changed.events) == ["a.csv", "b.csv"]
        assert event.dedup_key not in {e.dedup_key for e in changed.events}
        await run.close()

    asyncio.run(scenario())


def test_sql_polling_reports_rows_past_the_cursor_once(tmp_path: Path) -> None:
    database = tmp_path / "source.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
        db.executemany("INSERT INTO orders (item) VALUES (?)", [("a",), ("b",)])

    async def scenario() -> None:
        trigger = SqlPollTrigger("orders", conn_id="db", poll_s=0.05, batch=10)
        trigger.connections = {
            "db": Connection(conn_id="db", conn_type="sqlite", host=str(database))
        }
        run = Pump(trigger.run())
        status, rows = await run.take(2)
        assert status.state == "running"
        assert [(e.dedup_key, e.payload) for e in rows.events] == [
            ("orders:1", {"id": 1, "item": "a"}),
            ("orders:2", {"id": 2, "item": "b"}),
        ]
        assert await run.nothing_more()
        with sqlite3.connect(database) as db:
            db.execute("INSERT INTO orders (item) VALUES ('c')")
        (more,) = await run.take(1)
        assert [e.dedup_key for e in more.events] == ["orders:3"]
        await run.close()

    asyncio.run(scenario())


def test_sql_polling_refuses_names_that_are_not_identifiers() -> None:
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        SqlPollTrigger("orders; DROP TABLE x", conn_id="db")


def test_a_missing_connection_names_what_to_do() -> None:
    trigger = RedisStreamTrigger("s", conn_id="nope")
    with pytest.raises(LookupError, match="airlock connections add nope"):
        trigger.get_connection("nope")


def test_an_unreachable_broker_is_reported_with_its_url_and_no_password() -> None:
    async def scenario() -> None:
        trigger = RedisStreamTrigger("s", conn_id="r")
        # A port nothing listens on: taken from the kernel, then given back.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        trigger.connections = {
            "r": Connection(
                conn_id="r", conn_type="redis", host="127.0.0.1", port=port, password="hunter2"
            )
        }
        run = Pump(trigger.run())
        (status,) = await run.take(1, timeout_s=30)  # the first import of the client is slow
        assert status.state == "reconnecting"
        assert f"redis://127.0.0.1:{port}/0/s" in status.error
        assert "hunter2" not in status.error
        assert "retrying in 0.5 s" in status.error
        await run.close()

    asyncio.run(scenario())


class KafkaLog:
    """Kafka in memory, for the contract no broker here can show: one partition per topic and
    each group's committed offsets. :meth:`consumer` is a class with the surface of aiokafka's
    consumer that the trigger uses (start, getmany, commit, stop)."""

    def __init__(self) -> None:
        self.records: dict[str, list[bytes]] = {}
        self.committed: dict[tuple[str, str], int] = {}

    def consumer(self) -> type:
        from collections import namedtuple

        from aiokafka import TopicPartition

        log = self
        record = namedtuple("record", "topic partition offset value")

        class Consumer:
            def __init__(self, *topics: str, group_id: str, **_: Any) -> None:
                self.topics, self.group = topics, group_id
                self.position: dict[str, int] = {}

            async def start(self) -> None:
                for topic in self.topics:
                    self.position[topic] = log.committed.get((self.group, topic), 0)

            async def getmany(self, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
                fetched = {}
                for topic in self.topics:
                    at = self.position[topic]
                    values = log.records.get(topic, [])[at : at + max_records]
                    if values:
                        fetched[TopicPartition(topic, 0)] = [
                            record(topic, 0, at + i, value) for i, value in enumerate(values)
                        ]
                        self.position[topic] = at + len(values)
                if not fetched:
                    await asyncio.sleep(0.01)
                return fetched

            async def commit(self, offsets: dict[Any, int]) -> None:
                for partition, offset in offsets.items():
                    log.committed[(self.group, partition.topic)] = offset

            async def stop(self) -> None:
                pass

        return Consumer


def test_kafka_commits_only_what_was_stored_and_a_killed_consumer_redelivers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    aiokafka = pytest.importorskip("aiokafka")
    log = KafkaLog()
    log.records["orders"] = [b'{"n": 0}', b'{"n": 1}', b"not json"]
    monkeypatch.setattr(aiokafka, "AIOKafkaConsumer", log.consumer())

    def trigger() -> KafkaTrigger:
        made = KafkaTrigger(["orders"], group_id="g", conn_id="k", batch=2)
        made.connections = {
            "k": Connection(conn_id="k", conn_type="kafka", host="127.0.0.1", port=9092)
        }
        return made

    async def scenario() -> None:
        run = trigger().run()
        status = await run.__anext__()
        assert status.state == "running"
        first = await run.__anext__()
        assert [e.dedup_key for e in first.events] == ["orders:0:0", "orders:0:1"]
        assert [e.payload["value"] for e in first.events] == [{"n": 0}, {"n": 1}]
        assert log.committed == {}  # nothing committed before the store answered
        second = await run.__anext__()  # resumed: the first batch was stored
        assert log.committed == {("g", "orders"): 2}
        assert [(e.dedup_key, e.payload["value"]) for e in second.events] == [
            ("orders:0:2", "not json")
        ]
        await run.aclose()  # killed before the second batch was stored: not committed
        assert log.committed == {("g", "orders"): 2}
        again = trigger().run()
        await again.__anext__()
        redelivered = await again.__anext__()
        # The group's next member gets it again, with the same key: a duplicate, not a new event.
        assert [e.dedup_key for e in redelivered.events] == ["orders:0:2"]
        await again.aclose()

    asyncio.run(scenario())
