"""``just bench events``: how fast external events become runs and how many one triggerer stores.

The stack is ``airlock run-all`` (embedded SQLite) with a bundle of DAGs scheduled on watched
assets, and the brokers of this machine (Redis 6379, RabbitMQ 5672).

(a) **Latency**, per watcher kind (Redis stream, RabbitMQ queue): ``--n`` events sent one at a
    time, ``--gap-s`` apart; for each, from just before the send to the asset-triggered run it
    made (its ``queued_at``) and to that run's first task ``running`` (its ``start_date``).
    p50/p95/p99 in ms. Every event must make exactly one asset event.
(b) **Sustained ingest**: ``--ingest-n`` entries written to a Redis stream as fast as a pipeline
    writes them while one triggerer's watcher consumes it; events/s from the first write to the
    last event stored, and every entry accounted for (``lost``: entries with no event;
    ``duplicates``: events beyond one per entry). Once with the consumer DAG paused (the watcher
    → Internal API → DB path alone: ``ingest_events_per_s``), once running, each stored batch
    starting a run in the same request (``ingest_with_runs_events_per_s``).

(c) and the signed-webhook latency come from ``bench/events_push.py`` (its own stack), unless
    ``--skip-push``: ``webhook_p50_ms``/``_p95_ms``/``_p99_ms`` and ``batch_50k_s``.

Each measurement is a function returning a dict of figures; the last line is one JSON object
merging them (add a measurement by adding a function to ``MEASUREMENTS``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import Stack, run_all

from airlock.db import (
    Asset,
    AssetEvent,
    AssetWatcher,
    DagRun,
    DagRunAssetEvent,
    TaskInstance,
    make_engine,
    make_session_factory,
)

RUN = uuid.uuid4().hex[:8]
STREAM = f"bench-latency-{RUN}"
INGEST_STREAM = f"bench-ingest-{RUN}"
INGEST_RUNS_STREAM = f"bench-ingest-runs-{RUN}"
QUEUE = f"bench-latency-{RUN}"

DAGS = """
from datetime import datetime
from airlock.sdk import DAG, Asset, AssetWatcher, task
from airlock.sdk.triggers.events import RabbitMQTrigger, RedisStreamTrigger

WATCHED = {{
    "redis": RedisStreamTrigger("{stream}", conn_id="bench_redis", start_id="$"),
    "rabbitmq": RabbitMQTrigger("{queue}", conn_id="bench_rabbit"),
    "ingest": RedisStreamTrigger("{ingest}", conn_id="bench_redis", start_id="$", batch=1000),
    "ingest_runs": RedisStreamTrigger("{ingest_runs}", conn_id="bench_redis", start_id="$",
                                      batch=1000),
}}

for name, trigger in WATCHED.items():
    asset = Asset(name, uri=f"bench://{{name}}", watchers=[AssetWatcher(name, trigger)])
    with DAG(dag_id=f"on_{{name}}", schedule=[asset], start_date=datetime(2026, 1, 1),
             max_active_runs=1000):
        @task
        def first():
            return 1

        first()
"""


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        v = values[0] if values else float("nan")
        return v, v, v
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), cuts[94], cuts[98]


class Bench:
    def __init__(self, stack: Stack, args: argparse.Namespace) -> None:
        self.stack = stack
        self.args = args
        self.sessions = make_session_factory(make_engine(stack.db_url))
        self.web = stack.web()

    def asset_id(self, name: str) -> int:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with self.sessions() as session:
                found = session.scalar(
                    select(AssetWatcher.asset_id)
                    .join(Asset, Asset.id == AssetWatcher.asset_id)
                    .where(Asset.uri == f"bench://{name}", AssetWatcher.state == "running")
                )
            if found is not None:
                return int(found)
            time.sleep(0.2)
        raise RuntimeError(f"the {name} watcher never ran:\n{self.stack.log.read_text()[-3000:]}")

    def event_ids(self, asset_id: int) -> dict[str, int]:
        with self.sessions() as session:
            rows = session.execute(
                select(AssetEvent.dedup_key, AssetEvent.id).where(AssetEvent.asset_id == asset_id)
            )
            return {str(key): int(event_id) for key, event_id in rows}

    def latency(self, name: str, send: Callable[[int], str]) -> dict[str, float]:
        """Send ``--n`` events one at a time; per event, to its run and its first task."""
        asset_id = self.asset_id(name)
        sent: dict[str, dt.datetime] = {}
        for i in range(self.args.n):
            at = dt.datetime.now(dt.UTC)
            sent[send(i)] = at
            time.sleep(self.args.gap_s)
        deadline = time.monotonic() + 60
        while True:
            with self.sessions() as session:
                rows = session.execute(
                    select(
                        AssetEvent.dedup_key, DagRun.queued_at, func.min(TaskInstance.start_date)
                    )
                    .join(DagRunAssetEvent, DagRunAssetEvent.event_id == AssetEvent.id)
                    .join(DagRun, DagRun.id == DagRunAssetEvent.dag_run_id)
                    .join(
                        TaskInstance,
                        (TaskInstance.dag_id == DagRun.dag_id)
                        & (TaskInstance.run_id == DagRun.run_id),
                    )
                    .where(AssetEvent.asset_id == asset_id)
                    .group_by(AssetEvent.dedup_key, DagRun.queued_at)
                ).all()
            done = {k: (q, s) for k, q, s in rows if s is not None}
            if len(done) >= len(sent) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        to_run = [(done[k][0] - sent[k]).total_seconds() * 1000 for k in sent if k in done]
        to_task = [(done[k][1] - sent[k]).total_seconds() * 1000 for k in sent if k in done]
        stored = self.event_ids(asset_id)
        p50, p95, p99 = _percentiles(to_task)
        r50, r95, r99 = _percentiles(to_run)
        print(
            f"{name}: event → run p50 {r50:.0f} / p95 {r95:.0f} / p99 {r99:.0f} ms; "
            f"event → first task running p50 {p50:.0f} / p95 {p95:.0f} / p99 {p99:.0f} ms "
            f"({len(done)} of {len(sent)} events)",
            file=sys.stderr,
        )
        return {
            f"{name}_p50_ms": round(p50, 1),
            f"{name}_p95_ms": round(p95, 1),
            f"{name}_p99_ms": round(p99, 1),
            f"{name}_run_p50_ms": round(r50, 1),
            f"{name}_run_p95_ms": round(r95, 1),
            f"{name}_lost": len(set(sent) - set(stored)),
        }


def redis_latency(bench: Bench) -> dict[str, float]:
    import redis

    client = redis.Redis()
    try:
        return bench.latency(
            "redis",
            lambda i: f"{STREAM}:{client.xadd(STREAM, {'i': str(i)}).decode()}",
        )
    finally:
        client.delete(STREAM)


def rabbitmq_latency(bench: Bench) -> dict[str, float]:
    import aio_pika

    loop = asyncio.new_event_loop()

    async def connect() -> Any:
        connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
        return connection, await connection.channel()

    connection, channel = loop.run_until_complete(connect())

    def send(i: int) -> str:
        message_id = f"m{i}"
        loop.run_until_complete(
            channel.default_exchange.publish(
                aio_pika.Message(b"{}", message_id=message_id), routing_key=QUEUE
            )
        )
        return f"{QUEUE}:{message_id}"

    try:
        return bench.latency("rabbitmq", send)
    finally:
        loop.run_until_complete(connection.close())
        loop.close()


def _ingest(bench: Bench, name: str, stream: str, *, paused: bool) -> tuple[float, int, int]:
    """Write ``--ingest-n`` entries to ``stream`` through a pipeline; (events/s from the first
    write to the last event stored, lost, duplicates)."""
    import redis

    n = bench.args.ingest_n
    asset_id = bench.asset_id(name)
    answer = bench.web.patch(f"/dags/on_{name}", json={"is_paused": paused})
    answer.raise_for_status()
    client = redis.Redis()
    started = time.monotonic()
    keys: list[str] = []
    try:
        for start in range(0, n, 1000):
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(start + 1000, n)):
                pipe.xadd(stream, {"i": str(i)})
            keys += [f"{stream}:{entry.decode()}" for entry in pipe.execute()]
        deadline = time.monotonic() + 300
        while True:
            with bench.sessions() as session:
                stored = (
                    session.scalar(select(func.count()).where(AssetEvent.asset_id == asset_id)) or 0
                )
            if stored >= n or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        events = bench.event_ids(asset_id)
        with bench.sessions() as session:
            total = session.scalar(select(func.count()).where(AssetEvent.asset_id == asset_id))
    finally:
        client.delete(stream)
    lost = len(set(keys) - set(events))
    duplicates = int(total or 0) - len(events)
    rate = n / elapsed
    print(
        f"{name}: {n} entries stored in {elapsed:.2f} s = {rate:.0f} events/s "
        f"(consumer {'paused' if paused else 'running: runs started per batch'}; "
        f"lost {lost}, duplicates {duplicates})",
        file=sys.stderr,
    )
    return rate, lost, duplicates


def ingest(bench: Bench) -> dict[str, float]:
    """The watcher → Internal API → DB path alone: its consumer DAG paused (no runs)."""
    rate, lost, duplicates = _ingest(bench, "ingest", INGEST_STREAM, paused=True)
    return {
        "ingest_events_per_s": round(rate),
        "ingest_n": bench.args.ingest_n,
        "lost": lost,
        "duplicates": duplicates,
    }


def ingest_with_runs(bench: Bench) -> dict[str, float]:
    """The same with the consumer DAG running: each stored batch starts a run in the request."""
    rate, lost, duplicates = _ingest(bench, "ingest_runs", INGEST_RUNS_STREAM, paused=False)
    return {
        "ingest_with_runs_events_per_s": round(rate),
        "ingest_with_runs_lost": lost,
        "ingest_with_runs_duplicates": duplicates,
    }


MEASUREMENTS: list[Callable[[Bench], dict[str, float]]] = [
    redis_latency,
    rabbitmq_latency,
    ingest,
    ingest_with_runs,
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="events per latency measurement")
    parser.add_argument("--gap-s", type=float, default=0.4, help="pause between latency events")
    parser.add_argument("--ingest-n", type=int, default=20_000, help="entries for ingest")
    parser.add_argument("--batch-n", type=int, default=50_000, help="events in the backlog (c)")
    parser.add_argument("--db-url", help="run the backlog (c) on this database (PostgreSQL)")
    parser.add_argument("--skip-push", action="store_true", help="no webhook or backlog figures")
    args = parser.parse_args()
    dags = Path(tempfile.mkdtemp(prefix="airlock-bench-dags-"))
    dags.chmod(0o755)  # the DAG processor's parser may run as another user
    (dags / "watched.py").write_text(
        textwrap.dedent(DAGS).format(
            stream=STREAM, queue=QUEUE, ingest=INGEST_STREAM, ingest_runs=INGEST_RUNS_STREAM
        )
    )
    result: dict[str, Any] = {}
    with run_all(dags) as stack:
        web = stack.web()
        for connection in [
            {
                "connection_id": "bench_redis",
                "conn_type": "redis",
                "host": "127.0.0.1",
                "port": 6379,
            },
            {
                "connection_id": "bench_rabbit",
                "conn_type": "amqp",
                "host": "127.0.0.1",
                "port": 5672,
                "login": "guest",
                "password": "guest",
            },
        ]:
            web.post("/connections", json=connection).raise_for_status()
        bench = Bench(stack, args)
        for measure in MEASUREMENTS:
            result |= measure(bench)
    # The push side on a stack of its own: a signed webhook, then a backlog eaten in batches.
    import events_push

    if not args.skip_push:
        result |= events_push.webhook_latency(args.n)
        result |= events_push.batch_backlog(args.batch_n, args.db_url)
    lost = sum(v for k, v in result.items() if k.endswith("_lost"))
    duplicates = sum(v for k, v in result.items() if k.endswith("_duplicates"))
    result["lost"] = int(result.get("lost", 0)) + int(lost)
    result["duplicates"] = int(result.get("duplicates", 0)) + int(duplicates)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
