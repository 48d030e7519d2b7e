"""`just bench run`: end-to-end run latency and throughput against a fresh `run-all` stack.

Scenarios (the shapes of ../shared/bench's Airflow S2/S3 runs):
  (a) one DAG of 200 independent no-op @tasks: trigger -> run success, and tasks per second;
  (b) a DAG of 20 no-op tasks in a strict chain: trigger -> success, and the median hand-off
      (start of a task minus end of the one before it);
  (c) one no-op task: trigger -> success.
Each on SQLite and, when reachable, PostgreSQL; medians over --runs runs. Memory is PSS (shared
pages split between the processes that map them) summed over the whole stack, from
/proc/<pid>/smaps_rollup: idle, at the peak of (a), and one running task's own.
Idle memory is also given per process (the ``airlock`` subcommand or module each runs), to
see where it goes.
With --telemetry on, every service exports traces and metrics over OTLP to a stand-in collector
on loopback (``_stack.otlp_sink``); --telemetry sql also records a span per SQL statement
(``[telemetry] sql_spans``).
The last line is one JSON object: {"sqlite": {...}, "postgres": {...}}.
"""

from __future__ import annotations

import argparse
import itertools
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
import psutil
from _stack import free_port, otlp_sink

#: Apache Airflow 3.3.2 on this machine (../shared/bench/airflow/RESULTS.md, SQLite medians).
AIRFLOW = {
    "parallel_200_s": 28.4,
    "tasks_per_s": 7.0,
    "chain_20_s": 21.6,
    "handoff_p50_ms": 920.0,
    "single_task_s": 2.12,
    "idle_pss_mb": 908.0,
    "peak_pss_mb": 2300.0,
}
#: How often a run's state is polled. A run's time is not taken when a poll sees it end but from
#: its recorded end (the server's ``end_date``, on this machine's clock) minus the moment the
#: trigger was sent, so polling adds nothing to a figure and can be as slow as Airflow's 0.2 s:
#: a faster poll would only load the API it measures.
POLL_S = 0.2
#: Idle memory: after the warm-up run, let the stack settle, then the median of a few samples
#: (Airflow's idle figure is the median of 3 samples 5 s apart, 60 s after start).
IDLE_SETTLE_S = 5.0
IDLE_SAMPLES = 3
PG_ADMIN = os.environ.get("AIRLOCK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def write_dags(folder: Path) -> None:
    header = "from datetime import datetime\nfrom airlock.sdk import chain, dag, task\n\n"
    wide = "\n".join(
        f"    @task\n    def t{i:03d}():\n        return None\n    t{i:03d}()\n" for i in range(200)
    )
    chain_defs = "\n".join(
        f"    @task\n    def c{i:02d}():\n        return None\n" for i in range(20)
    )
    chain_call = ", ".join(f"c{i:02d}()" for i in range(20))
    (folder / "bench_wide.py").write_text(
        header
        + f"@dag(schedule=None, start_date=datetime(2024, 1, 1))\ndef bench_wide():\n{wide}\n\nbench_wide()\n"
    )
    (folder / "bench_chain.py").write_text(
        header
        + f"@dag(schedule=None, start_date=datetime(2024, 1, 1))\ndef bench_chain():\n{chain_defs}\n    chain({chain_call})\n\n\nbench_chain()\n"
    )
    (folder / "bench_single.py").write_text(
        header
        + "@dag(schedule=None, start_date=datetime(2024, 1, 1))\ndef bench_single():\n    @task\n    def only():\n        return None\n    only()\n\n\nbench_single()\n"
    )
    (folder / "bench_sleep.py").write_text(
        header
        + "@dag(schedule=None, start_date=datetime(2024, 1, 1))\ndef bench_sleep():\n    @task\n    def nap():\n        import time\n        time.sleep(3)\n    nap()\n\n\nbench_sleep()\n"
    )


def pss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            continue
    return total / 1024


def service_name(pid: int) -> str:
    """What a process of the stack is, for the per-process memory line: the ``airlock``
    subcommand it runs, else its module (``airlock.worker.zygote``), else its program."""
    try:
        argv = psutil.Process(pid).cmdline()
    except psutil.Error:
        return "gone"
    if argv[1:3] == ["-m", "airlock.cli"] and len(argv) > 3:
        return argv[3]
    if argv[1:2] == ["-m"] and len(argv) > 2:
        return argv[2].removeprefix("airlock.")
    return Path(argv[-2] if len(argv) > 1 else argv[0]).stem if argv else "?"


def pss_by_service(pids: list[int]) -> dict[str, float]:
    """PSS per kind of process of the stack, in MB (several of a kind are summed)."""
    by_name: dict[str, float] = {}
    for pid in pids:
        name = service_name(pid)
        by_name[name] = round(by_name.get(name, 0.0) + pss_mb([pid]), 1)
    return dict(sorted(by_name.items(), key=lambda item: -item[1]))


def tree(pid: int) -> list[int]:
    try:
        root = psutil.Process(pid)
        return [root.pid, *(c.pid for c in root.children(recursive=True))]
    except psutil.Error:
        return []


class Stack:
    def __init__(self, db_url: str | None, telemetry: dict[str, str]) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="airlock-bench-run-"))
        self.dags = self.home / "dags"
        self.dags.mkdir()
        write_dags(self.dags)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
        env.update(
            {
                "AIRLOCK_HOME": str(self.home / "home"),
                "AIRLOCK_DAG_PROCESSOR__BUNDLES": f"bench={self.dags}",
                "AIRLOCK_LOGGING__LEVEL": "WARNING",
                "AIRLOCK_INTERNAL__DAGS_ARE_PAUSED_AT_CREATION": "false",
            }
        )
        if db_url:
            env["AIRLOCK_DATABASE__URL"] = db_url
        env.update(telemetry)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airlock.cli", "run-all", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("run-all exited during start-up")
            password_file = self.home / "home" / "admin-password.txt"
            try:
                if password_file.exists() and self.client.get("/api/v1/health").status_code == 200:
                    login = self.client.post(
                        "/api/v1/auth/token",
                        json={"username": "admin", "password": password_file.read_text().strip()},
                    )
                    self.client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        for dag_id in ("bench_wide", "bench_chain", "bench_single", "bench_sleep"):
            # Asking for a run that does not exist tells whether the DAG itself exists yet.
            while (
                not self.client.get(f"/api/v1/dags/{dag_id}/dagRuns/none")
                .json()["detail"]
                .startswith("DAG run")
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{dag_id} never appeared")
                time.sleep(0.2)

    def run(self, dag_id: str) -> tuple[float, dict[str, Any]]:
        started = time.time()
        created = self.client.post(
            f"/api/v1/dags/{dag_id}/dagRuns", json={"run_id": f"bench_{uuid.uuid4().hex[:10]}"}
        )
        created.raise_for_status()
        run_id = created.json()["run_id"]
        while True:
            run = self.client.get(f"/api/v1/dags/{dag_id}/dagRuns/{run_id}").json()
            state = run["state"]
            if state in ("success", "failed"):
                elapsed = datetime.fromisoformat(run["end_date"]).timestamp() - started
                break
            time.sleep(POLL_S)
        if state != "success":
            raise RuntimeError(f"{dag_id} run {run_id} ended {state}")
        return elapsed, self.client.get(
            f"/api/v1/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        ).json()

    def pids(self) -> list[int]:
        return tree(self.process.pid)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def handoffs_ms(listing: dict[str, Any]) -> list[float]:
    tis = sorted(listing["task_instances"], key=lambda ti: ti["task_id"])
    out = []
    for before, after in itertools.pairwise(tis):
        end = datetime.fromisoformat(before["end_date"])
        start = datetime.fromisoformat(after["start_date"])
        out.append((start - end).total_seconds() * 1000)
    return out


def measure(db_url: str | None, runs: int, telemetry: dict[str, str]) -> dict[str, Any]:
    stack = Stack(db_url, telemetry)
    try:
        stack.run("bench_single")  # warm-up
        time.sleep(IDLE_SETTLE_S)
        samples = []
        for _ in range(IDLE_SAMPLES):
            samples.append(pss_mb(stack.pids()))
            time.sleep(1.0)
        idle = statistics.median(samples)
        idle_by_service = pss_by_service(stack.pids())
        # Timed runs of (a) without the memory sampler: reading every process's smaps_rollup ten
        # times a second costs the two cores ~15% of the stack's throughput. Then one more run
        # of (a) with the sampler, for the peak.
        parallel = [stack.run("bench_wide")[0] for _ in range(runs)]
        peak = [0.0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], pss_mb(stack.pids()))
                stop.wait(0.1)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            stack.run("bench_wide")
        finally:
            stop.set()
            sampler.join()
        chain, handoffs = [], []
        for _ in range(runs):
            seconds, listing = stack.run("bench_chain")
            chain.append(seconds)
            handoffs += handoffs_ms(listing)
        single = [stack.run("bench_single")[0] for _ in range(max(runs, 5))]
        before = set(stack.pids())
        created = stack.client.post("/api/v1/dags/bench_sleep/dagRuns", json={})
        created.raise_for_status()
        task_pss = 0.0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not task_pss:
            time.sleep(0.3)
            new = [p for p in stack.pids() if p not in before]
            task_pss = max((pss_mb([p]) for p in new), default=0.0)
        return {
            "parallel_200_s": round(statistics.median(parallel), 3),
            "tasks_per_s": round(200 / statistics.median(parallel), 1),
            "chain_20_s": round(statistics.median(chain), 3),
            "handoff_p50_ms": round(statistics.median(handoffs), 1),
            "single_task_s": round(statistics.median(single), 3),
            "idle_pss_mb": round(idle, 1),
            "peak_pss_mb": round(peak[0], 1),
            "task_pss_mb": round(task_pss, 1),
            "idle_pss_mb_by_process": idle_by_service,
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
    """Drop the database :func:`postgres_url` made (its stack has stopped)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure_all(db: str, runs: int, telemetry: dict[str, str]) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    if db in ("sqlite", "both"):
        results["sqlite"] = measure(None, runs, telemetry)
    if db in ("postgres", "both") and (url := postgres_url()):
        try:
            results["postgres"] = measure(url, runs, telemetry)
        finally:
            drop_database(url)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--telemetry", choices=["off", "on", "sql"], default="off")
    args = parser.parse_args()
    with otlp_sink() as sink:
        telemetry = {}
        if args.telemetry != "off":
            telemetry["AIRLOCK_TELEMETRY__OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink.server_port}"
            telemetry["AIRLOCK_TELEMETRY__SQL_SPANS"] = str(args.telemetry == "sql").lower()
        results = measure_all(args.db, args.runs, telemetry)
        if args.telemetry != "off":
            print(f"telemetry {args.telemetry}: {sink.received_bytes / 2**20:.1f} MB of OTLP sent")
    for db, figures in results.items():
        print(
            f"[{db}] (a) 200 parallel: {figures['parallel_200_s']} s, {figures['tasks_per_s']} tasks/s "
            f"= {figures['tasks_per_s'] / AIRFLOW['tasks_per_s']:.1f}x Airflow (target 20x)"
        )
        print(
            f"[{db}] (b) chain of 20: {figures['chain_20_s']} s, hand-off p50 {figures['handoff_p50_ms']} ms (target < 50 ms; Airflow 920 ms)"
        )
        print(
            f"[{db}] (c) single task: {figures['single_task_s']} s (target < 0.25 s; Airflow 2.12 s)"
        )
        print(
            f"[{db}] memory PSS: idle {figures['idle_pss_mb']} MB (target < 200), peak {figures['peak_pss_mb']} MB (target < 500), one task {figures['task_pss_mb']} MB"
        )
        print(
            f"[{db}] idle PSS by process (MB): "
            + ", ".join(f"{name} {mb}" for name, mb in figures["idle_pss_mb_by_process"].items())
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
