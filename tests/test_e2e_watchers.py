"""Asset watchers across real processes: `airlock run-all` (its triggerer runs the watchers),
real brokers on this machine, and the Web API watching external messages become asset events
and DAG runs — each message once.

One stack serves every broker: a DAG per broker, scheduled on an asset whose watcher reads that
broker, with credentials from an Airlock connection created through the Web API.
"""

from __future__ import annotations

import socket
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

RUN = uuid.uuid4().hex[:8]
REDIS_STREAM = f"airlock-test-{RUN}"

DAG_FILE = """
from datetime import datetime
from airlock.sdk import DAG, Asset, AssetWatcher, task
from airlock.sdk.triggers.events import RedisStreamTrigger

orders = Asset(
    "orders",
    uri="redis-stream://orders",
    watchers=[AssetWatcher("orders_stream", RedisStreamTrigger("{stream}", conn_id="test_redis"))],
)

with DAG(dag_id="on_orders", schedule=[orders], start_date=datetime(2026, 1, 1)):
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
    if not _reachable("127.0.0.1", 6379):
        service_unreachable("Redis unreachable at 127.0.0.1:6379")
    base = tmp_path_factory.mktemp("watch")
    dags = base / "dags"
    dags.mkdir()
    (dags / "watched.py").write_text(textwrap.dedent(DAG_FILE).format(stream=REDIS_STREAM))
    stack = RunAll.start(base, dags)
    try:
        web = _client(stack)
        answer = web.post(
            "/connections",
            json={
                "connection_id": "test_redis",
                "conn_type": "redis",
                "host": "127.0.0.1",
                "port": 6379,
            },
        )
        assert answer.status_code == 201, answer.text
        yield stack
    finally:
        stack.stop()
        import redis

        redis.Redis().delete(REDIS_STREAM)


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


def test_redis_stream_entries_become_events_and_runs(stack: RunAll) -> None:
    import redis

    web = _client(stack)
    asset_id = _asset_id(web, "redis-stream://orders")
    assert wait_until(lambda: _watcher(web, asset_id)["state"] == "running", timeout_s=60), (
        _watcher(web, asset_id),
        stack.output()[-3000:],
    )
    client = redis.Redis()
    ids = [client.xadd(REDIS_STREAM, {"order": str(i)}).decode() for i in range(5)]

    assert wait_until(lambda: len(_events(web, asset_id)) >= 5, timeout_s=30), stack.output()[
        -3000:
    ]
    events = _events(web, asset_id)
    assert sorted(e["dedup_key"] for e in events) == sorted(f"{REDIS_STREAM}:{i}" for i in ids)
    assert {e["source"] for e in events} == {"watcher:orders_stream"}
    assert sorted(e["extra"]["order"] for e in events) == [str(i) for i in range(5)]
    # Each event is consumed by a run of the DAG scheduled on the asset.
    assert wait_until(
        lambda: all(e["created_dagruns"] for e in _events(web, asset_id)), timeout_s=30
    )
    runs = web.get("/dags/on_orders/dagRuns").json()["dag_runs"]
    assert runs and all(r["run_type"] == "asset_triggered" for r in runs)
    # Acked after storing: nothing pending in the group.
    assert wait_until(
        lambda: client.xpending(REDIS_STREAM, "airlock")["pending"] == 0, timeout_s=10
    )
    watcher = _watcher(web, asset_id)
    assert watcher["events_stored"] == 5
    assert watcher["last_event_at"] is not None
    assert watcher["name"] == "orders_stream"
