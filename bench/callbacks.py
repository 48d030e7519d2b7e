"""`just bench callbacks`: how fast the callback processor drains a burst, and how soon a callback
starts after its event is committed.

1. Burst: N task-failure callbacks (default 10,000) are committed at once; one
   `airlock callback-processor` drains them. Reported: time to drain, callbacks per second, how
   many were lost (not `success` at the end), and how long callbacks waited in the burst's queue
   (queued → started; with N queued at once this is mostly queueing, not dispatch).
2. Dispatch latency: callbacks committed one at a time (default 200, 20 a second) to an idle
   processor; latency is the state change's commit (the row's `created_at`) → the callback
   started (leased: `first_started_at`), both on this machine's clock.

SQLite by default (`--db-url` for PostgreSQL). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _stack import AIRLOCK, api, fresh_home
from sqlalchemy import create_engine, func, insert, select

from airlock.core.tokens import TokenKind
from airlock.core.tokens.keys import load_private_key
from airlock.core.tokens.signer import TokenSigner
from airlock.db import CallbackRequest, Dag

DAG_FILE = """
from airlock.sdk import DAG
from airlock.sdk.operators.empty import EmptyOperator


def on_failure(context):
    pass


with DAG("bench_callbacks", schedule=None):
    EmptyOperator(task_id="t", on_failure_callback=on_failure)
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def rows(n: int, start: int, version: int | None) -> list[dict[str, object]]:
    now = dt.datetime.now(dt.UTC)
    return [
        {
            "kind": "task_failure",
            "bundle_name": "bench",
            "dag_id": "bench_callbacks",
            "run_id": f"r{start + i}",
            "task_id": "t",
            "try_number": 1,
            "dag_version_id": version,
            "payload": {"state": "failed", "error": "bench"},
            "created_at": now,
        }
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callbacks", type=int, default=10_000)
    parser.add_argument("--trickle", type=int, default=200, help="callbacks for the latency part")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--db-url")
    args = parser.parse_args()

    home = fresh_home(args.db_url)
    db_url = args.db_url or f"sqlite:///{home.path / 'airlock.db'}"
    bundle = Path(tempfile.mkdtemp(prefix="airlock-bench-callbacks-"))
    (bundle / "bench_callbacks.py").write_text(DAG_FILE)
    signer = TokenSigner(load_private_key(home.path / "keys" / "jwt_signing.pem"))
    engine = create_engine(db_url)
    with api(home, "internal") as url:
        parse_token = signer.issue(
            TokenKind.SERVICE, "bench", 3600, role="dag-processor", bundles=["bench"]
        )
        subprocess.run(
            [*AIRLOCK, "dag-processor", "--bundle", "bench", "--once"],
            env={
                **{k: v for k, v in home.env.items() if not k.startswith("AIRLOCK_DATABASE")},
                "AIRLOCK_DAG_PROCESSOR__API_URL": url,
                "AIRLOCK_DAG_PROCESSOR__TOKEN": parse_token,
                "AIRLOCK_DAG_PROCESSOR__BUNDLES": f"bench={bundle}",
            },
            check=True,
            capture_output=True,
        )
        with engine.begin() as connection:
            version = connection.scalar(select(Dag.latest_version_id))
            connection.execute(insert(CallbackRequest), rows(args.callbacks, 0, version))
        token = signer.issue(
            TokenKind.SERVICE, "bench", 3600, role="callback-processor", bundles=["bench"]
        )
        env = {k: v for k, v in home.env.items() if not k.startswith("AIRLOCK_DATABASE")} | {
            "AIRLOCK_ZONE": "processing",
            "AIRLOCK_CALLBACK_PROCESSOR__API_URL": url,
            "AIRLOCK_CALLBACK_PROCESSOR__TOKEN": token,
            "AIRLOCK_CALLBACK_PROCESSOR__BUNDLES": f"bench={bundle}",
            "AIRLOCK_CALLBACK_PROCESSOR__POLL_INTERVAL_S": "0.05",
            "AIRLOCK_LOGGING__LEVEL": "WARNING",
        }
        started = time.monotonic()
        processor = subprocess.Popen(
            [*AIRLOCK, "callback-processor", "--concurrency", str(args.concurrency)], env=env
        )
        try:
            while True:
                with engine.connect() as connection:
                    left = connection.scalar(
                        select(func.count()).where(CallbackRequest.state != "success")
                    )
                if not left:
                    break
                if time.monotonic() - started > 1800:
                    break
                time.sleep(0.2)
            drain_s = time.monotonic() - started
            with engine.connect() as connection:
                waits = [
                    (s - q).total_seconds() * 1000
                    for q, s in connection.execute(
                        select(CallbackRequest.created_at, CallbackRequest.first_started_at)
                    )
                    if s is not None
                ]
                lost = connection.scalar(
                    select(func.count()).where(CallbackRequest.state != "success")
                )
            print(
                f"burst: {args.callbacks} callbacks drained in {drain_s:.1f} s "
                f"({args.callbacks / drain_s:.0f}/s), lost {lost}"
            )

            first_trickle = args.callbacks
            for i in range(args.trickle):
                with engine.begin() as connection:
                    connection.execute(insert(CallbackRequest), rows(1, first_trickle + i, version))
                time.sleep(0.05)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with engine.connect() as connection:
                    if not connection.scalar(
                        select(func.count()).where(CallbackRequest.state != "success")
                    ):
                        break
                time.sleep(0.2)
            with engine.connect() as connection:
                latencies = [
                    (s - q).total_seconds() * 1000
                    for q, s in connection.execute(
                        select(CallbackRequest.created_at, CallbackRequest.first_started_at).where(
                            CallbackRequest.id > args.callbacks
                        )
                    )
                    if s is not None
                ]
                lost += (
                    connection.scalar(
                        select(func.count()).where(CallbackRequest.state != "success")
                    )
                    or 0
                )
        finally:
            processor.terminate()
            processor.wait(30)
    print(
        f"dispatch (one at a time): p50 {percentile(latencies, 0.5):.0f} ms, "
        f"p99 {percentile(latencies, 0.99):.0f} ms over {len(latencies)}"
    )
    print(
        json.dumps(
            {
                "db": "postgresql" if args.db_url else "sqlite",
                "callbacks": args.callbacks,
                "concurrency": args.concurrency,
                "drain_s": round(drain_s, 2),
                "callbacks_per_s": round(args.callbacks / drain_s, 1),
                "dispatch_p50_ms": round(percentile(latencies, 0.5), 1),
                "dispatch_p99_ms": round(percentile(latencies, 0.99), 1),
                "burst_wait_p50_ms": round(statistics.median(waits), 1),
                "burst_wait_p99_ms": round(percentile(waits, 0.99), 1),
                "lost": lost,
            }
        )
    )


if __name__ == "__main__":
    main()
