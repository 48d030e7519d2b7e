"""A broker goes away and comes back, seen by a watcher through a TCP proxy the test controls
(the broker itself is shared by every test on the machine, so the path to it is cut instead):
the watcher reports ``reconnecting`` with the broker's URL, reconnects with backoff when the
path is back, and every message — those sent while it was cut off included — becomes exactly one
asset event. RabbitMQ, NATS JetStream and Mosquitto; Redis is stopped outright in
``test_watchers_chaos.py``."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from airlock.core.tokens import TokenKind
from airlock.db import AssetEvent, AssetWatcher, make_engine, make_session_factory
from airlock.internal.asset_refs import record_references
from airlock.models.dag import AssetRef, AssetSchedule, SerializedWatcher
from conftest import service_unreachable
from tests.support.dags import install_dag, make_dag, task
from tests.support.processes import ApiServer, Home, make_home, start_api, stop
from tests.support.proxy import TcpProxy
from tests.support.waiting import wait_until

# Real processes and brokers: `just test` and CI run these, `just test-fast` does not.
pytestmark = pytest.mark.slow

RUN = uuid.uuid4().hex[:8]


@dataclass
class Broker:
    key: str
    name: str
    port: int
    classpath: str
    kwargs: dict[str, Any]
    connection: dict[str, Any]
    publish: Callable[[list[int]], None]
    prepare: Callable[[], None] = lambda: None
    clean: Callable[[], None] = lambda: None


def _rabbitmq() -> Broker:
    queue = f"outage-{RUN}"

    async def publish(numbers: list[int]) -> None:
        import aio_pika

        connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
        async with connection:
            channel = await connection.channel()
            for n in numbers:
                await channel.default_exchange.publish(
                    aio_pika.Message(f'{{"n": {n}}}'.encode(), message_id=f"m{n}"),
                    routing_key=queue,
                )

    async def clean() -> None:
        import aio_pika

        connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
        async with connection:
            await (await connection.channel()).queue_delete(queue)

    return Broker(
        "rabbitmq",
        "RabbitMQ",
        5672,
        "airlock.sdk.triggers.events.RabbitMQTrigger",
        {"queue": queue},
        {"conn_type": "amqp", "login": "guest", "password": "guest"},
        lambda numbers: asyncio.run(publish(numbers)),
        clean=lambda: asyncio.run(clean()),
    )


def _nats() -> Broker:
    stream, subject = f"OUTAGE_{RUN}", f"outage.{RUN}"

    async def with_js(action: Callable[[Any], Any]) -> None:
        import nats

        client = await nats.connect("nats://127.0.0.1:4222")
        try:
            await action(client.jetstream())
        finally:
            await client.close()

    async def publish_all(js: Any, numbers: list[int]) -> None:
        for n in numbers:
            await js.publish(subject, f"{n}".encode())

    return Broker(
        "nats",
        "NATS",
        4222,
        "airlock.sdk.triggers.events.NatsJetStreamTrigger",
        {"subject": subject, "stream": stream},
        {"conn_type": "nats"},
        lambda numbers: asyncio.run(with_js(lambda js: publish_all(js, numbers))),
        prepare=lambda: asyncio.run(
            with_js(lambda js: js.add_stream(name=stream, subjects=[subject]))
        ),
        clean=lambda: asyncio.run(with_js(lambda js: js.delete_stream(stream))),
    )


def _mqtt() -> Broker:
    topic = f"airlock/outage/{RUN}"

    async def publish(numbers: list[int]) -> None:
        import aiomqtt

        async with aiomqtt.Client("127.0.0.1", 1883) as client:
            for n in numbers:
                await client.publish(topic, f'{{"n": {n}}}'.encode(), qos=1)

    return Broker(
        "mqtt",
        "Mosquitto",
        1883,
        "airlock.sdk.triggers.events.MqttTrigger",
        {"topic": topic, "client_id": f"airlock-outage-{RUN}"},
        {"conn_type": "mqtt"},
        lambda numbers: asyncio.run(publish(numbers)),
    )


BROKERS = {"rabbitmq": _rabbitmq, "nats": _nats, "mqtt": _mqtt}


@dataclass
class Setup:
    home: Home
    api: ApiServer
    base: Path
    #: The broker's own bundle (and connection, DAG and asset): the stack is shared by the
    #: brokers' tests, and a triggerer leases only its bundle's watchers.
    bundle: str
    asset_id: int = 0

    def events(self) -> tuple[int, int]:
        with make_session_factory(make_engine(self.home.db_url))() as session:
            row = session.execute(
                select(func.count(), func.count(func.distinct(AssetEvent.dedup_key))).where(
                    AssetEvent.asset_id == self.asset_id
                )
            ).one()
            return int(row[0]), int(row[1])

    def watcher(self) -> dict[str, Any]:
        token = self.home.token(TokenKind.USER, "ann", roles=["admin"])
        answer = httpx.get(
            f"{self.api.url}/api/v1/assets/{self.asset_id}/watchers",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["watchers"][0])

    def triggerer(self) -> subprocess.Popen[bytes]:
        token = self.home.token(
            TokenKind.SERVICE, "trig", 3600, role="triggerer", bundles=[self.bundle]
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
        env.update(
            {
                "AIRLOCK_HOME": str(self.base / "trig-home"),
                "AIRLOCK_ZONE": "processing",
                "AIRLOCK_TRIGGERER__API_URL": self.api.url,
                "AIRLOCK_TRIGGERER__TOKEN": token,
                "AIRLOCK_TRIGGERER__BUNDLES": f"{self.bundle}={self.base / 'bundle'}",
                "AIRLOCK_TRIGGERER__POLL_S": "0.2",
            }
        )
        return subprocess.Popen(
            [sys.executable, "-m", "airlock.cli", "triggerer", "--name", "solo"],
            env=env,
            stdout=(self.base / "triggerer.log").open("wb"),
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return (self.base / "triggerer.log").read_text(errors="replace")


def _reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(params=sorted(BROKERS))
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    made = BROKERS[request.param]()
    if not _reachable(made.port):
        service_unreachable(f"{made.name} unreachable at 127.0.0.1:{made.port}")
    made.prepare()
    try:
        yield made
    finally:
        made.clean()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Home, ApiServer]]:
    """One API server (and database) for every broker's test: starting one costs seconds."""
    path = tmp_path_factory.mktemp("outage")
    home = make_home(path / "home", f"sqlite:///{path / 'airlock.db'}")
    api = start_api(home, "web,internal", {"AIRLOCK_INTERNAL__TRIGGER_LEASE_S": "3"})
    try:
        yield home, api
    finally:
        stop(api)


@pytest.fixture
def setup(
    tmp_path: Path, stack: tuple[Home, ApiServer], broker: Broker
) -> Iterator[tuple[Setup, TcpProxy]]:
    home, api = stack
    (tmp_path / "bundle").mkdir()
    proxy = TcpProxy(broker.port)
    proxy.up()
    name = f"outage_{broker.key}"
    setup = Setup(home, api, tmp_path, bundle=name)
    try:
        token = home.token(TokenKind.USER, "ann", roles=["admin"])
        answer = httpx.post(
            f"{api.url}/api/v1/connections",
            json={"connection_id": name, "host": "127.0.0.1", "port": proxy.port}
            | broker.connection,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        asset = AssetRef(name=name, uri=f"watched://{name}")
        dag = make_dag(
            name,
            [task("consume")],
            schedule=AssetSchedule(condition=asset),
            watchers=[
                SerializedWatcher(
                    name="outage",
                    asset=asset,
                    trigger_classpath=broker.classpath,
                    trigger_kwargs={**broker.kwargs, "conn_id": name},
                )
            ],
        )
        with make_session_factory(make_engine(home.db_url))() as session:
            install_dag(session, dag, bundle=name)
            record_references(session, {name: dag}, dt.datetime.now(dt.UTC))
            session.commit()
            setup.asset_id = session.scalars(
                select(AssetWatcher.asset_id).where(AssetWatcher.dag_id == name)
            ).one()
        yield setup, proxy
    finally:
        proxy.down()


def test_broker_cut_off_then_back_loses_and_doubles_nothing(
    setup: tuple[Setup, TcpProxy], broker: Broker
) -> None:
    stack, proxy = setup
    process = stack.triggerer()
    try:
        assert wait_until(lambda: stack.watcher()["state"] == "running", timeout_s=30), stack.log()
        broker.publish(list(range(10)))
        assert wait_until(lambda: stack.events()[0] == 10, timeout_s=30), stack.log()
        proxy.down()
        assert wait_until(lambda: stack.watcher()["state"] == "reconnecting", timeout_s=30), (
            stack.log()
        )
        assert f"127.0.0.1:{proxy.port}" in (stack.watcher()["last_error"] or "")
        broker.publish(list(range(10, 20)))  # while the watcher is cut off
        proxy.up()
        assert wait_until(lambda: stack.events()[0] >= 20, timeout_s=60), stack.log()
        assert wait_until(lambda: stack.watcher()["state"] == "running", timeout_s=10)
    finally:
        process.terminate()
        process.wait(15)
    log = stack.log()
    assert "reconnecting" in log, log
    assert f"127.0.0.1:{proxy.port}" in log, log
    assert stack.events() == (20, 20), "a message was lost or stored twice"
