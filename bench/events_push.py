"""Push-side event benchmarks (issue 16): a signed webhook to a running task, and a batched DAG
eating a backlog. ``bench/events.py`` calls :func:`webhook_latency` and :func:`batch_backlog`;
``python bench/events_push.py`` runs both alone.

(a) ``--n`` (40) signed deliveries, one at a time, to a receiver on a fresh ``airlock run-all``
    stack (SQLite) whose DAG runs once per event: the delivery's send time to its run's first
    task going ``running`` (the task instance's ``start_date``, set by the hand-out that gives
    it to the worker; server and client share this machine's clock, so polling speed adds
    nothing). p50 / p95 / p99 in ms.
(c) ``--batch-n`` (50,000) events queued for one DAG with ``RunPerBatch(max_events=10_000)``
    (stored through the same functions the APIs use), then the scheduler's asset step
    (``create_asset_triggered_runs``) run until the queue is empty: the time to create the
    runs, and every event accounted for — ``lost`` (queued events no run consumed) and
    ``duplicates`` (events consumed by more than one run) must both be 0.

The last line is one JSON object with ``webhook_p50_ms``, ``webhook_p95_ms``,
``webhook_p99_ms``, ``batch_50k_s``, ``lost``, ``duplicates``. ``--db-url`` runs (c) on
an empty PostgreSQL database (migrated first) instead of a fresh SQLite file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support's DAG installer

from _stack import AIRLOCK, free_port, fresh_home

SECRET = "bench-webhook-secret"
ASSET = "bench://webhooks/pushes"
DAG_FILE = f'''
from airlock.sdk import DAG, Asset, task

with DAG("bench_webhook", schedule=Asset(name="pushes", uri="{ASSET}"),
         is_paused_upon_creation=False, max_active_runs=64):
    @task
    def first():
        return None

    first()
'''


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


# --- (a) webhook -> first task running ----------------------------------------------------------


class _Stack:
    """``airlock run-all`` on a fresh home with one bundle holding the bench DAG."""

    def __init__(self) -> None:
        base = Path(tempfile.mkdtemp(prefix="airlock-bench-push-"))
        dags = base / "dags"
        dags.mkdir()
        (dags / "bench_webhook.py").write_text(DAG_FILE)
        self.url = f"http://127.0.0.1:{free_port()}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
        env |= {
            "AIRLOCK_HOME": str(base / "home"),
            "AIRLOCK_DAG_PROCESSOR__BUNDLES": f"bench={dags}",
            "AIRLOCK_LOGGING__LEVEL": "WARNING",
            "AIRLOCK_INTERNAL__DAGS_ARE_PAUSED_AT_CREATION": "false",
        }
        self.home = base / "home"
        self.process = subprocess.Popen(
            [*AIRLOCK, "run-all", "--port", self.url.rsplit(":", 1)[1]],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("run-all exited during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError("run-all never became ready")
            password = self.home / "admin-password.txt"
            try:
                if password.exists() and self.client.get("/api/v1/health").status_code == 200:
                    login = self.client.post(
                        "/api/v1/auth/token",
                        json={"username": "admin", "password": password.read_text().strip()},
                    )
                    if login.status_code == 200:
                        token = login.json()["access_token"]
                        self.client.headers["Authorization"] = f"Bearer {token}"
                        break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        while self.client.get("/api/v1/dags/bench_webhook").status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("bench_webhook never appeared")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _deliver(client: httpx.Client, url: str, n: int) -> int:
    body = json.dumps({"id": f"push-{n}", "ref": "refs/heads/main"}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.post(url, content=body, headers={"X-Hub-Signature-256": signature})
    if response.status_code != 201:
        raise RuntimeError(f"delivery {n}: {response.status_code} {response.text}")
    return int(response.json()["event_id"])


def _first_task_start(stack: _Stack, event_id: int, timeout_s: float = 30) -> float:
    """The start time (epoch s) of the first task of the run that consumed ``event_id``."""
    deadline = time.monotonic() + timeout_s
    run_id = None
    while time.monotonic() < deadline:
        if run_id is None:
            events = stack.client.get(
                "/api/v1/assets/events", params={"uri": ASSET, "limit": 5}
            ).json()["asset_events"]
            for event in events:
                if event["id"] == event_id and event["created_dagruns"]:
                    run_id = event["created_dagruns"][0]["run_id"]
        if run_id is not None:
            tis = stack.client.get(
                f"/api/v1/dags/bench_webhook/dagRuns/{run_id}/taskInstances"
            ).json()["task_instances"]
            if tis and tis[0].get("start_date"):
                return dt.datetime.fromisoformat(tis[0]["start_date"]).timestamp()
        time.sleep(0.02)
    raise RuntimeError(f"event {event_id}: no task started within {timeout_s} s")


def webhook_latency(n: int = 40, warmup: int = 3) -> dict[str, float]:
    """(a): webhook -> run -> first task running, p50/p95/p99 in ms over ``n`` deliveries."""
    stack = _Stack()
    try:
        stack.ready()
        made = stack.client.post(
            "/api/v1/receivers",
            json={"name": "bench", "asset_uri": ASSET, "secret": SECRET, "dedup_key": "body.id"},
        )
        made.raise_for_status()
        url = f"{stack.url}/api/v1/receivers/bench"
        latencies: list[float] = []
        with httpx.Client(timeout=30) as sender:
            for i in range(warmup + n):
                sent = time.time()
                event_id = _deliver(sender, url, i)
                started = _first_task_start(stack, event_id)
                if i >= warmup:
                    latencies.append((started - sent) * 1000)
                time.sleep(0.1)  # one at a time: the previous run's end is not measured
    finally:
        stack.stop()
    return {
        "webhook_p50_ms": round(percentile(latencies, 0.50), 1),
        "webhook_p95_ms": round(percentile(latencies, 0.95), 1),
        "webhook_p99_ms": round(percentile(latencies, 0.99), 1),
        "webhook_n": n,
    }


# --- (c) a backlog eaten by one batched DAG --------------------------------------------------


def batch_backlog(
    n: int = 50_000, db_url: str | None = None, max_events: int = 10_000
) -> dict[str, Any]:
    """(c): ``n`` queued events consumed by one ``RunPerBatch(max_events)`` DAG."""
    from sqlalchemy import func, select

    from airlock.db import AssetDagRunQueue, DagRunAssetEvent, make_engine, make_session_factory
    from airlock.db.assets import ensure_assets, schedule_assets, set_dag_asset_references
    from airlock.models.dag import AssetRef, AssetRunMode, AssetRunPolicy, AssetSchedule
    from airlock.scheduling import DagCache, create_asset_triggered_runs
    from airlock.scheduling.assets import store_events
    from tests.support.dags import install_dag, make_dag, task

    home = fresh_home(db_url)  # migrates the database (a fresh SQLite file by default)
    db_url = db_url or f"sqlite:///{home.path / 'airlock.db'}"
    sessions = make_session_factory(make_engine(db_url))
    ref = AssetRef(name="backlog", uri="bench://backlog")
    policy = AssetRunPolicy(mode=AssetRunMode.BATCH, max_events=max_events)
    dag = make_dag(
        "bench_batched",
        [task("t")],
        schedule=AssetSchedule(condition=ref, policy=policy),
        max_active_runs=1000,
    )
    now = dt.datetime.now(dt.UTC)
    with sessions() as session:
        install_dag(session, dag, bundle="bench")
        set_dag_asset_references(
            session, {"bench_batched": (schedule_assets(dag.schedule), {})}, now
        )
        asset_id = ensure_assets(session, [ref], now)[ref.uri]
        for start in range(0, n, 5_000):
            rows = [
                {"asset_id": asset_id, "extra": {"n": i}, "source": "bench", "timestamp": now}
                for i in range(start, min(n, start + 5_000))
            ]
            store_events(session, rows, now)
        session.commit()
        queued = session.scalar(select(func.count()).select_from(AssetDagRunQueue)) or 0
    cache = DagCache()
    runs = 0
    began = time.perf_counter()
    while True:
        with sessions() as session:
            created = create_asset_triggered_runs(session, cache, now, limit=1000)
            session.commit()
        if not created:
            break
        runs += len(created)
    elapsed = time.perf_counter() - began
    with sessions() as session:
        consumed = session.scalar(select(func.count()).select_from(DagRunAssetEvent)) or 0
        distinct = session.scalar(select(func.count(func.distinct(DagRunAssetEvent.event_id)))) or 0
        left = session.scalar(select(func.count()).select_from(AssetDagRunQueue)) or 0
    return {
        "batch_50k_s": round(elapsed, 3),
        "batch_events": queued,
        "batch_runs": runs,
        "lost": queued - distinct - left,
        "duplicates": consumed - distinct,
        "left_waiting": left,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=40, help="webhook deliveries measured")
    parser.add_argument("--batch-n", type=int, default=50_000, help="events in the backlog")
    parser.add_argument("--db-url", help="run (c) on this database (PostgreSQL) instead")
    parser.add_argument("--skip-webhook", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    if not args.skip_webhook:
        result |= webhook_latency(args.n)
        print(
            f"webhook -> first task running over {args.n}: p50 {result['webhook_p50_ms']} ms, "
            f"p95 {result['webhook_p95_ms']} ms, p99 {result['webhook_p99_ms']} ms "
            "(target p95 < 250 ms)"
        )
    result |= batch_backlog(args.batch_n, args.db_url)
    print(
        f"{result['batch_events']} queued events -> {result['batch_runs']} batched runs in "
        f"{result['batch_50k_s']} s (target < 2 s); lost {result['lost']}, duplicates "
        f"{result['duplicates']}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
