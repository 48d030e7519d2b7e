"""`just bench load`: throughput and API latency under a backlog, against a fresh `run-all` stack.

First one run of a 200-task DAG alone (the single-run figure of this bench run), then 50 runs of
it triggered at once plus one run of a 1,000-way mapped task (11,000 task instances). During the
load a client lists DAGs (`GET /api/v1/dags`) continuously and the stack's memory is sampled
(PSS over the process tree, from /proc/<pid>/smaps_rollup). Figures: tasks per second of the
load (first trigger to last run end) against the single run, of the first and the last thousand
tasks that ended, the DAG list's p99, each trigger's median, the peak PSS and how many task
instances or runs did not succeed, and the CPU seconds each service spent per thousand tasks.
Each on SQLite and, when reachable, PostgreSQL.
The last line is one JSON object: {"sqlite": {...}, "postgres": {...}}.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _stack import free_port, service_cpu_s, tree_pss_mb

RUNS = 50
WIDTH = 200
MAPPED = 1000
PG_ADMIN = os.environ.get("AIRLOCK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
#: The targets of issue 19.
TARGETS = (
    "throughput >= 80% of a single run, GET /dags p99 < 100 ms, trigger p50 < 100 ms, PSS < 400 MB"
)


def write_dags(folder: Path, runs: int, mapped: int) -> None:
    header = "from datetime import datetime\nfrom airlock.sdk import dag, task\n\n"
    wide = "\n".join(
        f"    @task\n    def t{i:03d}():\n        return None\n    t{i:03d}()\n"
        for i in range(WIDTH)
    )
    (folder / "load_wide.py").write_text(
        header + "@dag(schedule=None, start_date=datetime(2024, 1, 1), "
        f"max_active_runs={runs}, max_active_tasks={WIDTH})\n"
        f"def load_wide():\n{wide}\n\nload_wide()\n"
    )
    (folder / "load_mapped.py").write_text(
        header + "@dag(schedule=None, start_date=datetime(2024, 1, 1), "
        f"max_active_tasks={mapped})\ndef load_mapped():\n"
        f"    @task\n    def items():\n        return list(range({mapped}))\n\n"
        "    @task\n    def work(x):\n        return None\n\n"
        "    work.expand(x=items())\n\n\nload_mapped()\n"
    )


class Stack:
    def __init__(self, db_url: str | None, runs: int, mapped: int) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="airlock-bench-load-"))
        dags = self.home / "dags"
        dags.mkdir()
        write_dags(dags, runs, mapped)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
        env.update(
            {
                "AIRLOCK_HOME": str(self.home / "home"),
                "AIRLOCK_DAG_PROCESSOR__BUNDLES": f"bench={dags}",
                "AIRLOCK_LOGGING__LEVEL": "WARNING",
                # The benchmarked DAGs run at once (new DAGs start paused by default).
                "AIRLOCK_INTERNAL__DAGS_ARE_PAUSED_AT_CREATION": "false",
            }
        )
        if db_url:
            env["AIRLOCK_DATABASE__URL"] = db_url
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airlock.cli", "run-all", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = httpx.Client(base_url=self.url, timeout=60)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 120
        password = self.home / "home" / "admin-password.txt"
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("run-all exited during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError("run-all never became ready")
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
        for dag_id in ("load_wide", "load_mapped"):
            while self.client.get(f"/api/v1/dags/{dag_id}").status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{dag_id} never appeared")
                time.sleep(0.2)

    def trigger(self, dag_id: str) -> tuple[str, float]:
        """A new run of ``dag_id``; its id and how long the trigger took (ms)."""
        started = time.perf_counter()
        created = self.client.post(
            f"/api/v1/dags/{dag_id}/dagRuns", json={"run_id": f"load_{uuid.uuid4().hex[:10]}"}
        )
        took = (time.perf_counter() - started) * 1000
        created.raise_for_status()
        return created.json()["run_id"], took

    def wait(self, runs: list[tuple[str, str]], timeout_s: float) -> dict[tuple[str, str], Any]:
        """Poll until every run has ended; each run's record. One request a second lists the
        ended runs of every DAG (a request per run would load the API it measures)."""
        wanted = set(runs)
        ended: dict[tuple[str, str], Any] = {}
        deadline = time.monotonic() + timeout_s
        while len(ended) < len(wanted):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{len(wanted) - len(ended)} run(s) did not end in {timeout_s} s"
                )
            page = self.client.get(
                "/api/v1/dags/~/dagRuns",
                params={"state": ["success", "failed"], "limit": 1000},
            ).json()
            for run in page["dag_runs"]:
                if (run["dag_id"], run["run_id"]) in wanted:
                    ended[(run["dag_id"], run["run_id"])] = run
            time.sleep(1.0)
        return ended

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self.client.get(
                f"/api/v1/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                params={"limit": 1000, "offset": len(found)},
            ).json()
            found += page["task_instances"]
            if len(found) >= page["total_entries"] or not page["task_instances"]:
                return found

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _rate(ends: list[float]) -> float:
    return round((len(ends) - 1) / max(ends[-1] - ends[0], 1e-6), 1)


def measure(db_url: str | None, runs_of_wide: int, mapped: int) -> dict[str, Any]:
    stack = Stack(db_url, runs_of_wide, mapped)
    try:
        single_start = time.time()
        single = stack.trigger("load_wide")[0]
        (record,) = stack.wait([("load_wide", single)], 300).values()
        single_tps = WIDTH / (_ts(record["end_date"]) - single_start)

        peak = [0.0]
        dags_ms: list[float] = []
        stop = threading.Event()

        def sample_memory() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], tree_pss_mb(stack.process.pid))
                stop.wait(0.5)

        def list_dags() -> None:
            with httpx.Client(
                base_url=stack.url, headers=dict(stack.client.headers), timeout=60
            ) as web:
                while not stop.is_set():
                    started = time.perf_counter()
                    web.get("/api/v1/dags").raise_for_status()
                    dags_ms.append((time.perf_counter() - started) * 1000)
                    stop.wait(0.1)

        threads = [threading.Thread(target=sample_memory), threading.Thread(target=list_dags)]
        for thread in threads:
            thread.start()
        try:
            cpu_before = service_cpu_s(stack.process.pid)
            load_start = time.time()
            triggered = [("load_wide", *stack.trigger("load_wide")) for _ in range(runs_of_wide)]
            triggered.append(("load_mapped", *stack.trigger("load_mapped")))
            runs = [(dag_id, run_id) for dag_id, run_id, _ in triggered]
            records = stack.wait(runs, 3600)
            cpu_after = service_cpu_s(stack.process.pid)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        tis = [ti for dag_id, run_id in runs for ti in stack.task_instances(dag_id, run_id)]
        ends = sorted(_ts(ti["end_date"]) for ti in tis if ti["end_date"])
        last_end = max(_ts(r["end_date"]) for r in records.values())
        failed = sum(ti["state"] != "success" for ti in tis) + sum(
            r["state"] != "success" for r in records.values()
        )
        return {
            "task_instances": len(tis),
            "load_s": round(last_end - load_start, 1),
            "tasks_per_s": round(len(tis) / (last_end - load_start), 1),
            "single_run_tasks_per_s": round(single_tps, 1),
            "first_1000_tasks_per_s": _rate(ends[:1000]),
            "last_1000_tasks_per_s": _rate(ends[-1000:]),
            "web_dags_p99_ms": round(statistics.quantiles(dags_ms, n=100)[98], 1),
            "web_dags_requests": len(dags_ms),
            "trigger_p50_ms": round(statistics.median(t for _, _, t in triggered), 1),
            "peak_pss_mb": round(peak[0], 1),
            "failed": failed,
            # CPU seconds each service spent per thousand tasks of the load: steadier than
            # throughput on a machine shared with other work.
            "cpu_s_per_1000_tasks": {
                name: round((used - cpu_before.get(name, 0.0)) * 1000 / len(tis), 2)
                for name, used in sorted(cpu_after.items())
            },
        }
    finally:
        stack.stop()


def postgres_url() -> str | None:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as admin:
            name = f"airlock_bench_{uuid.uuid4().hex[:8]}"
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL unreachable at {PG_ADMIN}: {exc}; skipping it")
        return None
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=RUNS, help="runs of the 200-task DAG")
    parser.add_argument("--mapped", type=int, default=MAPPED, help="width of the mapped task")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    if args.db in ("sqlite", "both"):
        results["sqlite"] = measure(None, args.runs, args.mapped)
    if args.db in ("postgres", "both") and (url := postgres_url()):
        try:
            results["postgres"] = measure(url, args.runs, args.mapped)
        finally:
            drop_database(url)
    print(f"targets: {TARGETS}")
    for db, f in results.items():
        print(
            f"[{db}] {f['task_instances']} task instances in {f['load_s']} s: "
            f"{f['tasks_per_s']} tasks/s under load, {f['single_run_tasks_per_s']} for one run "
            f"alone ({f['tasks_per_s'] / f['single_run_tasks_per_s']:.0%}); first 1000 "
            f"{f['first_1000_tasks_per_s']} tasks/s, last 1000 {f['last_1000_tasks_per_s']}"
        )
        print(
            f"[{db}] GET /api/v1/dags p99 {f['web_dags_p99_ms']} ms over "
            f"{f['web_dags_requests']} requests; trigger p50 {f['trigger_p50_ms']} ms; "
            f"peak PSS {f['peak_pss_mb']} MB; {f['failed']} failed"
        )
        cpu = ", ".join(f"{name} {s}" for name, s in f["cpu_s_per_1000_tasks"].items())
        print(f"[{db}] CPU seconds per 1000 tasks: {cpu}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
