"""Asset watchers across real processes: `airlock run-all` (its triggerer runs the watchers),
real brokers on this machine, and the Web API watching external messages become asset events
and DAG runs — each message once.

One stack serves every broker: a DAG per broker, scheduled on an asset whose watcher reads that
broker, with credentials from an Airlock connection created through the Web API.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import service_unreachable
from tests.support.processes import RunAll
from tests.support.waiting import wait_until

# Real processes and brokers: `just test` and CI run these, `just test-fast` does not.
pytestmark = pytest.mark.slow

RUN = uuid.uuid4().hex[:8]
REDIS_STREAM = f"airlock-test-{RUN}"
RABBIT_QUEUE = f"airlock-test-{RUN}"
NATS_STREAM = f"AIRLOCK_TEST_{RUN}"
NATS_SUBJECT = f"airlock.test.{RUN}"
MQTT_TOPIC = f"airlock/test/{RUN}"
EXAMPLE_STREAM = f"airlock-example-{RUN}"
PG_TABLE = f"airlock_watch_{RUN}"
PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parents[1]

DAG_FILE = """
from datetime import datetime
from airlock.sdk import DAG, Asset, AssetWatcher, task
from airlock.sdk.triggers.events import (
    FolderTrigger, MqttTrigger, NatsJetStreamTrigger, RabbitMQTrigger, RedisStreamTrigger,
    SqlPollTrigger,
)

WATCHERS = {{
    "orders": RedisStreamTrigger("{stream}", conn_id="test_redis"),
    "rabbit": RabbitMQTrigger("{queue}", conn_id="test_rabbit"),
    "nats": NatsJetStreamTrigger("{subject}", stream="{nats_stream}", conn_id="test_nats"),
    "mqtt": MqttTrigger("{topic}", client_id="airlock-{run}", conn_id="test_mqtt"),
    "folder": FolderTrigger("{folder}", pattern="*.csv", poll_s=0.2),
    "rows": SqlPollTrigger("orders", cursor_column="id", conn_id="test_sqlite", poll_s=0.2),
    "pgrows": SqlPollTrigger("{pg_table}", cursor_column="id", conn_id="test_pg", poll_s=0.2),
}}

for name, trigger in WATCHERS.items():
    asset = Asset(name, uri=f"watched://{{name}}", watchers=[AssetWatcher(f"{{name}}_watch", trigger)])
    with DAG(dag_id=f"on_{{name}}", schedule=[asset], start_date=datetime(2026, 1, 1)):
        @task
        def consume():
            return "ok"

        consume()
"""


def _reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunAll]:
    base = tmp_path_factory.mktemp("watch")
    dags = base / "dags"
    dags.mkdir()
    folder = base / "inbox"
    folder.mkdir()
    database = base / "source.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
    (dags / "watched.py").write_text(
        textwrap.dedent(DAG_FILE).format(
            stream=REDIS_STREAM,
            queue=RABBIT_QUEUE,
            subject=NATS_SUBJECT,
            nats_stream=NATS_STREAM,
            topic=MQTT_TOPIC,
            run=RUN,
            folder=folder,
            pg_table=PG_TABLE,
        )
    )
    if _reachable("127.0.0.1", 5432):
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as db:
            db.execute(f"CREATE TABLE {PG_TABLE} (id BIGSERIAL PRIMARY KEY, item TEXT)")
    # The example as shipped, on a stream of its own (this machine's Redis is shared).
    example = (ROOT / "deploy" / "dags" / "redis_stream_watcher.py").read_text()
    assert 'RedisStreamTrigger("orders",' in example
    (dags / "redis_stream_watcher.py").write_text(
        example.replace('RedisStreamTrigger("orders",', f'RedisStreamTrigger("{EXAMPLE_STREAM}",')
    )
    if _reachable("127.0.0.1", 4222):
        asyncio.run(_nats_stream())
    stack = RunAll.start(base, dags)
    try:
        web = _client(stack)
        for connection in [
            {
                "connection_id": "test_redis",
                "conn_type": "redis",
                "host": "127.0.0.1",
                "port": 6379,
            },
            {
                "connection_id": "test_rabbit",
                "conn_type": "amqp",
                "host": "127.0.0.1",
                "port": 5672,
                "login": "guest",
                "password": "guest",
            },
            {"connection_id": "test_nats", "conn_type": "nats", "host": "127.0.0.1", "port": 4222},
            {"connection_id": "test_mqtt", "conn_type": "mqtt", "host": "127.0.0.1", "port": 1883},
            {"connection_id": "test_sqlite", "conn_type": "sqlite", "host": str(database)},
            {
                "connection_id": "test_pg",
                "conn_type": "postgres",
                "host": "127.0.0.1",
                "port": 5432,
                "login": "postgres",
                "schema": "postgres",
            },
            {
                "connection_id": "redis_default",
                "conn_type": "redis",
                "host": "127.0.0.1",
                "port": 6379,
            },
        ]:
            answer = web.post("/connections", json=connection)
            assert answer.status_code == 201, answer.text
        stack.folder = folder  # type: ignore[attr-defined]
        stack.database = database  # type: ignore[attr-defined]
        yield stack
    finally:
        stack.stop()
        if _reachable("127.0.0.1", 6379):
            import redis

            redis.Redis().delete(REDIS_STREAM, EXAMPLE_STREAM)
        if _reachable("127.0.0.1", 5432):
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True) as db:
                db.execute(f"DROP TABLE IF EXISTS {PG_TABLE}")


async def _nats_stream() -> None:
    import nats

    client = await nats.connect("nats://127.0.0.1:4222")
    try:
        await client.jetstream().add_stream(name=NATS_STREAM, subjects=[NATS_SUBJECT])
    finally:
        await client.close()


def _need(service: str, port: int) -> None:
    if not _reachable("127.0.0.1", port):
        service_unreachable(f"{service} unreachable at 127.0.0.1:{port}")


def _client(stack: RunAll) -> httpx.Client:
    token = httpx.post(
        f"{stack.url}/api/v1/auth/token",
        json={"username": "admin", "password": stack.admin_password()},
        timeout=10,
    ).json()["access_token"]
    return httpx.Client(
        base_url=f"{stack.url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def _asset_id(web: httpx.Client, uri: str) -> int:
    found: list[int] = []

    def known() -> bool:
        assets = web.get("/assets", params={"uri_pattern": uri}).json()["assets"]
        found[:] = [a["id"] for a in assets if a["uri"] == uri]
        return bool(found)

    assert wait_until(known, timeout_s=60), f"asset {uri} never appeared"
    return found[0]


def _events(web: httpx.Client, asset_id: int) -> list[dict[str, Any]]:
    answer = web.get("/assets/events", params={"asset_id": asset_id, "limit": 1000})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["asset_events"])


def _watcher(web: httpx.Client, asset_id: int) -> dict[str, Any]:
    answer = web.get(f"/assets/{asset_id}/watchers")
    assert answer.status_code == 200, answer.text
    (watcher,) = answer.json()["watchers"]
    return dict(watcher)


def _running(stack: RunAll, web: httpx.Client, name: str) -> int:
    asset_id = _asset_id(web, f"watched://{name}")
    assert wait_until(lambda: _watcher(web, asset_id)["state"] == "running", timeout_s=60), (
        _watcher(web, asset_id),
        stack.output()[-3000:],
    )
    return asset_id


def _all_consumed(web: httpx.Client, asset_id: int, count: int, dag_id: str) -> list[Any]:
    assert wait_until(lambda: len(_events(web, asset_id)) >= count, timeout_s=30)
    assert wait_until(
        lambda: all(e["created_dagruns"] for e in _events(web, asset_id)), timeout_s=30
    )
    events = _events(web, asset_id)
    assert len(events) == count, events
    runs = web.get(f"/dags/{dag_id}/dagRuns").json()["dag_runs"]
    assert runs
    assert all(r["run_type"] == "asset_triggered" for r in runs)
    return events


def test_redis_stream_entries_become_events_and_runs(stack: RunAll) -> None:
    _need("Redis", 6379)
    import redis

    web = _client(stack)
    asset_id = _running(stack, web, "orders")
    client = redis.Redis()
    ids = [client.xadd(REDIS_STREAM, {"order": str(i)}).decode() for i in range(5)]

    assert wait_until(lambda: len(_events(web, asset_id)) >= 5, timeout_s=30), stack.output()[
        -3000:
    ]
    events = _events(web, asset_id)
    assert sorted(e["dedup_key"] for e in events) == sorted(f"{REDIS_STREAM}:{i}" for i in ids)
    assert {e["source"] for e in events} == {"watcher:orders_watch"}
    assert sorted(e["extra"]["order"] for e in events) == [str(i) for i in range(5)]
    # Each event is consumed by a run of the DAG scheduled on the asset.
    assert wait_until(
        lambda: all(e["created_dagruns"] for e in _events(web, asset_id)), timeout_s=30
    )
    runs = web.get("/dags/on_orders/dagRuns").json()["dag_runs"]
    assert runs
    assert all(r["run_type"] == "asset_triggered" for r in runs)
    # Acked after storing: nothing pending in the group.
    assert wait_until(
        lambda: client.xpending(REDIS_STREAM, "airlock")["pending"] == 0, timeout_s=10
    )
    watcher = _watcher(web, asset_id)
    assert watcher["events_stored"] == 5
    # The same through the CLI, as a person asks.
    cli = [sys.executable, "-m", "airlock.cli"]
    login = subprocess.run(
        [*cli, "login", "-u", "admin", "--password-stdin"],
        env=stack.env,
        input=stack.admin_password(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert login.returncode == 0, login.stdout + login.stderr
    shown = subprocess.run(
        [*cli, "assets", "watchers", str(asset_id)],
        env=stack.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "orders_watch" in shown.stdout
    assert "running" in shown.stdout
    assert watcher["last_event_at"] is not None
    assert watcher["name"] == "orders_watch"


def test_rabbitmq_messages_become_events_once(stack: RunAll) -> None:
    _need("RabbitMQ", 5672)
    web = _client(stack)
    asset_id = _running(stack, web, "rabbit")

    async def publish() -> None:
        import aio_pika

        connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
        async with connection:
            channel = await connection.channel()
            for i in range(4):
                # The same message id twice: one event.
                for _ in range(2 if i == 0 else 1):
                    await channel.default_exchange.publish(
                        aio_pika.Message(f'{{"n": {i}}}'.encode(), message_id=f"m{i}"),
                        routing_key=RABBIT_QUEUE,
                    )

    asyncio.run(publish())
    events = _all_consumed(web, asset_id, 4, "on_rabbit")
    assert sorted(e["dedup_key"] for e in events) == [f"{RABBIT_QUEUE}:m{i}" for i in range(4)]
    assert sorted(e["extra"]["body"]["n"] for e in events) == [0, 1, 2, 3]


def test_nats_jetstream_messages_become_events(stack: RunAll) -> None:
    _need("NATS", 4222)
    web = _client(stack)
    asset_id = _running(stack, web, "nats")

    async def publish() -> list[int]:
        import nats

        client = await nats.connect("nats://127.0.0.1:4222")
        try:
            js = client.jetstream()
            return [(await js.publish(NATS_SUBJECT, f"{i}".encode())).seq for i in range(3)]
        finally:
            await client.close()

    sequences = asyncio.run(publish())
    events = _all_consumed(web, asset_id, 3, "on_nats")
    assert sorted(e["dedup_key"] for e in events) == [f"{NATS_STREAM}:{s}" for s in sequences]


def test_mqtt_qos1_messages_become_events(stack: RunAll) -> None:
    _need("Mosquitto", 1883)
    web = _client(stack)
    asset_id = _running(stack, web, "mqtt")

    async def publish() -> None:
        import aiomqtt

        async with aiomqtt.Client("127.0.0.1", 1883) as client:
            for i in range(3):
                await client.publish(MQTT_TOPIC, f'{{"n": {i}}}'.encode(), qos=1)

    asyncio.run(publish())
    events = _all_consumed(web, asset_id, 3, "on_mqtt")
    assert sorted(e["extra"]["payload"]["n"] for e in events) == [0, 1, 2]


def test_folder_watcher_fires_once_per_new_or_changed_file(stack: RunAll) -> None:
    web = _client(stack)
    asset_id = _running(stack, web, "folder")
    folder: Path = stack.folder  # type: ignore[attr-defined]
    (folder / "a.csv").write_text("1")
    (folder / "b.csv").write_text("2")
    (folder / "ignored.txt").write_text("x")
    _all_consumed(web, asset_id, 2, "on_folder")
    time.sleep(1)  # several polls: a file that merely stays there fires no more
    assert len(_events(web, asset_id)) == 2
    (folder / "a.csv").write_text("1, changed")
    events = _all_consumed(web, asset_id, 3, "on_folder")
    assert sorted(Path(e["extra"]["path"]).name for e in events) == ["a.csv", "a.csv", "b.csv"]


def test_sql_polling_reports_new_rows_past_the_cursor(stack: RunAll) -> None:
    web = _client(stack)
    asset_id = _running(stack, web, "rows")
    with sqlite3.connect(stack.database) as db:  # type: ignore[attr-defined]
        db.executemany("INSERT INTO orders (item) VALUES (?)", [("x",), ("y",)])
    _all_consumed(web, asset_id, 2, "on_rows")
    with sqlite3.connect(stack.database) as db:  # type: ignore[attr-defined]
        db.execute("INSERT INTO orders (item) VALUES ('z')")
    events = _all_consumed(web, asset_id, 3, "on_rows")
    assert sorted(e["dedup_key"] for e in events) == ["orders:1", "orders:2", "orders:3"]


def test_sql_polling_on_postgresql(stack: RunAll) -> None:
    _need("PostgreSQL", 5432)
    import psycopg

    web = _client(stack)
    asset_id = _running(stack, web, "pgrows")
    with psycopg.connect(PG_URL, autocommit=True) as db:
        for item in ("a", "b", "c"):
            db.execute(f"INSERT INTO {PG_TABLE} (item) VALUES (%s)", (item,))
    events = _all_consumed(web, asset_id, 3, "on_pgrows")
    assert sorted(e["dedup_key"] for e in events) == [f"{PG_TABLE}:{i}" for i in (1, 2, 3)]
    assert sorted(e["extra"]["item"] for e in events) == ["a", "b", "c"]


def test_the_shipped_redis_example_runs_per_entry(stack: RunAll) -> None:
    _need("Redis", 6379)
    import redis

    web = _client(stack)
    asset_id = _asset_id(web, "redis://orders")
    assert wait_until(lambda: _watcher(web, asset_id)["state"] == "running", timeout_s=60)
    redis.Redis().xadd(EXAMPLE_STREAM, {"order_id": "42", "amount": "9.99"})
    (event,) = _all_consumed(web, asset_id, 1, "orders_from_redis")
    assert event["extra"]["order_id"] == "42"
    (run,) = event["created_dagruns"]

    def succeeded() -> bool:
        answer = web.get(f"/dags/orders_from_redis/dagRuns/{run['run_id']}")
        return bool(answer.json()["state"] == "success")

    assert wait_until(succeeded, timeout_s=60), stack.output()[-3000:]
