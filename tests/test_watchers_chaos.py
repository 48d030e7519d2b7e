"""Asset watchers under faults, with real processes: an API server (Web + Internal), triggerers
started and SIGKILLed by the test, and a private ``redis-server`` on a free port that the test
stops and starts.

- SIGKILL the triggerer again and again while entries flow into the stream (so kills land
  between receiving entries and storing them, and between storing and acking): every entry
  becomes exactly one asset event, and none is left unacked.
- The broker goes down and comes back: the watcher reports ``reconnecting`` (logged once per
  backoff with the broker's URL, never its password), then ``running``, and nothing is lost.

Rounds: ``AIRLOCK_TEST_CHAOS_EVENTS_ROUNDS`` (default 4 in the suite; ``just chaos-events N`` runs
the long series).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
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
from tests.support.processes import ApiServer, Home, free_port, make_home, start_api, stop
from tests.support.waiting import wait_until

# Real processes and brokers: `just test` and CI run these, `just test-fast` does not.
pytestmark = pytest.mark.slow

LEASE_S = 1.5
PASSWORD = "s3cret-never-logged"
STREAM = "chaos"
ROUNDS = int(os.environ.get("AIRLOCK_TEST_CHAOS_EVENTS_ROUNDS", "4"))


class RedisServer:
    """A private redis-server (append-only file, fsync always: a restart keeps the stream)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--requirepass",
                PASSWORD,
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_until(self._answers, timeout_s=10), "redis-server did not start"

    def _answers(self) -> bool:
        import redis

        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port, password=PASSWORD, socket_timeout=5)


@dataclass
class Setup:
    home: Home
    api: ApiServer
    base: Path
    redis: RedisServer
    #: The test's own bundle (and connection, DAG and asset): the API server is shared by the
    #: tests, and a triggerer leases only its bundle's watchers.
    bundle: str
    asset_id: int = 0

    def sessions(self):  # type: ignore[no-untyped-def]
        return make_session_factory(make_engine(self.home.db_url))

    def triggerer(self, name: str) -> subprocess.Popen[bytes]:
        token = self.home.token(
            TokenKind.SERVICE, "trig", 3600, role="triggerer", bundles=[self.bundle]
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
        env.update(
            {
                "AIRLOCK_HOME": str(self.base / f"home-{name}"),
                "AIRLOCK_ZONE": "processing",
                "AIRLOCK_TRIGGERER__API_URL": self.api.url,
                "AIRLOCK_TRIGGERER__TOKEN": token,
                "AIRLOCK_TRIGGERER__BUNDLES": f"{self.bundle}={self.base / 'bundle'}",
                "AIRLOCK_TRIGGERER__POLL_S": "0.2",
            }
        )
        log = (self.base / f"triggerer-{name}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "-m", "airlock.cli", "triggerer", "--name", name],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def log(self, name: str) -> str:
        return (self.base / f"triggerer-{name}.log").read_text(errors="replace")

    def events(self) -> tuple[int, int]:
        """(events stored for the asset, distinct dedup keys among them)."""
        with self.sessions()() as session:
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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Home, ApiServer]]:
    """One API server (and database) for both tests: starting one costs seconds."""
    if shutil.which("redis-server") is None:
        service_unreachable("redis-server not found on PATH (the test starts a private one)")
    path = tmp_path_factory.mktemp("chaos")
    home = make_home(path / "home", f"sqlite:///{path / 'airlock.db'}")
    api = start_api(home, "web,internal", {"AIRLOCK_INTERNAL__TRIGGER_LEASE_S": str(LEASE_S)})
    try:
        yield home, api
    finally:
        stop(api)


@pytest.fixture
def setup(tmp_path: Path, stack: tuple[Home, ApiServer]) -> Iterator[Setup]:
    home, api = stack
    (tmp_path / "bundle").mkdir()
    server = RedisServer(tmp_path)
    server.start()
    name = f"chaos_{uuid.uuid4().hex[:8]}"
    setup = Setup(home, api, tmp_path, server, bundle=name)
    try:
        token = home.token(TokenKind.USER, "ann", roles=["admin"])
        answer = httpx.post(
            f"{api.url}/api/v1/connections",
            json={
                "connection_id": name,
                "conn_type": "redis",
                "host": "127.0.0.1",
                "port": server.port,
                "password": PASSWORD,
            },
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
                    name="chaos_watch",
                    asset=asset,
                    trigger_classpath="airlock.sdk.triggers.events.RedisStreamTrigger",
                    trigger_kwargs={"stream": STREAM, "conn_id": name, "batch": 50},
                )
            ],
        )
        with setup.sessions()() as session:
            install_dag(session, dag, bundle=name)
            record_references(session, {name: dag}, dt.datetime.now(dt.UTC))
            session.commit()
            setup.asset_id = session.scalars(
                select(AssetWatcher.asset_id).where(AssetWatcher.dag_id == name)
            ).one()
        yield setup
    finally:
        server.stop()


def test_sigkilled_triggerers_lose_and_double_nothing(setup: Setup) -> None:
    client = setup.redis.client()
    added: list[str] = []
    done = threading.Event()

    def produce() -> None:
        n = 0
        while not done.is_set():
            for _ in range(20):
                added.append(client.xadd(STREAM, {"n": str(n)}).decode())
                n += 1
            time.sleep(0.02)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    rng = random.Random(16)
    kills = 0
    in_flight = 0
    try:
        for round_ in range(ROUNDS):
            process = setup.triggerer(f"t{round_}")
            # Running: events are being stored by this triggerer.
            before = setup.events()[0]
            assert wait_until(
                lambda before=before: setup.events()[0] > before, timeout_s=LEASE_S * 4 + 10
            ), setup.log(f"t{round_}")
            time.sleep(rng.uniform(0.0, 0.3))
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            kills += 1
            # Entries the killed triggerer had received and not acked: redelivered to the next.
            in_flight += int(client.xpending(STREAM, "airlock")["pending"])
    finally:
        done.set()
        producer.join(10)
    last = setup.triggerer("last")
    try:
        # The backlog of the last kills: generous on a busy machine.
        assert wait_until(lambda: setup.events()[0] >= len(added), timeout_s=120), (
            len(added),
            setup.events(),
        )
        assert wait_until(lambda: client.xpending(STREAM, "airlock")["pending"] == 0, timeout_s=10)
    finally:
        last.terminate()
        last.wait(15)
    stored, distinct = setup.events()
    assert kills == ROUNDS
    assert in_flight > 0, "no kill landed between receiving entries and acking them"
    assert stored == distinct == len(added), "an entry was lost or stored twice"


def test_broker_down_then_up_reconnects_and_loses_nothing(setup: Setup) -> None:
    client = setup.redis.client()
    process = setup.triggerer("solo")
    try:
        for n in range(10):
            client.xadd(STREAM, {"n": str(n)})
        assert wait_until(lambda: setup.events()[0] == 10, timeout_s=LEASE_S * 4 + 10)
        setup.redis.stop()
        assert wait_until(lambda: setup.watcher()["state"] == "reconnecting", timeout_s=20)
        assert f"127.0.0.1:{setup.redis.port}" in (setup.watcher()["last_error"] or "")
        time.sleep(2)  # a few backoffs
        setup.redis.start()
        client = setup.redis.client()
        for n in range(10, 20):
            client.xadd(STREAM, {"n": str(n)})
        assert wait_until(lambda: setup.events()[0] == 20, timeout_s=40), setup.log("solo")
        assert wait_until(lambda: setup.watcher()["state"] == "running", timeout_s=10)
    finally:
        process.terminate()
        process.wait(15)
    log = setup.log("solo")
    assert "reconnecting" in log, log
    assert f"redis://127.0.0.1:{setup.redis.port}" in log, log
    assert PASSWORD not in log
    # Once per failure and backoff, not once per poll: a handful of lines for a few seconds.
    assert log.count("reconnecting") <= 10, log
    stored, distinct = setup.events()
    assert stored == distinct == 20
