"""`just bench dag-processing`: cold and warm DAG-processor passes over N generated DAG files.

Each DAG file holds one DAG of 10 @task tasks in a chain with a cron schedule (the shape of
Airflow's S1 benchmark in ../shared/bench). A cold pass parses and uploads every file into an
empty database; a warm pass finds nothing changed. Both are timed as a user runs them:
`airlock dag-processor --once`, a whole process, start-up included. Medians over --runs runs,
each cold run on a fresh database. The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

from _stack import AIRLOCK, TreeMemory, api, fresh_home, median

#: Apache Airflow 3.3.2 on this machine, `airflow dags reserialize`, 1000 such files, SQLite
#: (../shared/bench/airflow/RESULTS.md, measured 2026-11-21): the target is 10x faster.
AIRFLOW_RESERIALIZE_S = 22.8
AIRFLOW_BYTES_PER_DAG = 6767


def generate(folder: Path, n: int, tasks: int = 10) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        names = [f"t{j:02d}" for j in range(tasks)]
        defs = "\n".join(f"    @task\n    def {name}():\n        return None\n" for name in names)
        calls = ", ".join(f"{name}()" for name in names)
        (folder / f"bench_dag_{i:04d}.py").write_text(
            textwrap.dedent(f'''\
            from datetime import datetime

            from airlock.sdk import chain, dag, task


            @dag(dag_id="bench_dag_{i:04d}", schedule="{i % 60} * * * *", start_date=datetime(2024, 1, 1),
                 catchup=False, tags=["bench"])
            def bench_dag_{i:04d}():
            ''')
            + defs
            + f"\n    chain({calls})\n\n\nbench_dag_{i:04d}()\n"
        )


def one_pass(env: dict[str, str]) -> tuple[float, float, str]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [*AIRLOCK, "dag-processor", "--bundle", "bench", "--once"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    memory = TreeMemory(process.pid)
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    peak = memory.stop()
    if process.returncode != 0:
        raise RuntimeError(f"dag-processor failed: {err}")
    return seconds, peak, out.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="number of DAG files to generate")
    parser.add_argument("--files", type=Path, help="use this folder of DAG files instead")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    folder = args.files or Path(tempfile.mkdtemp(prefix="airlock-bench-dags-"))
    if not args.files:
        generate(folder, args.n)
    n_files = sum(1 for _ in folder.rglob("*.py"))
    cold, warm, peaks, stored = [], [], [], []
    for run in range(args.runs):
        home = fresh_home()
        with api(home, "internal") as url:
            token = home.run(
                "tokens",
                "issue",
                "--kind",
                "service",
                "--role",
                "dag-processor",
                "--bundle",
                "bench",
            ).strip()
            env = {k: v for k, v in home.env.items() if not k.startswith("AIRLOCK_DATABASE")}
            env.update(
                {
                    "AIRLOCK_ZONE": "processing",
                    "AIRLOCK_DAG_PROCESSOR__API_URL": url,
                    "AIRLOCK_DAG_PROCESSOR__TOKEN": token,
                    "AIRLOCK_DAG_PROCESSOR__BUNDLES": f"bench={folder}",
                }
            )
            seconds, peak, summary = one_pass(env)
            cold.append(seconds)
            peaks.append(peak)
            print(
                f"run {run + 1}: cold {seconds:.2f} s, peak RSS {peak:.0f} MB — {summary}",
                flush=True,
            )
            seconds, _, summary = one_pass(env)
            warm.append(seconds)
            print(f"run {run + 1}: warm {seconds:.2f} s — {summary}", flush=True)
        with sqlite3.connect(home.path / "airlock.db") as db:
            dags, total = db.execute("SELECT count(*), sum(blob_size) FROM dag_version").fetchone()
        stored.append(total / max(dags, 1))
    figures = {
        "n_files": n_files,
        "cold_s": round(median(cold), 3),
        "warm_s": round(median(warm), 3),
        "dags_per_s": round(dags / median(cold), 1),
        "bytes_per_dag": round(median(stored), 1),
        "peak_rss_mb": round(median(peaks), 1),
    }
    print(
        f"cold pass median {figures['cold_s']} s; Airflow 3.3.2 `dags reserialize` took {AIRFLOW_RESERIALIZE_S} s "
        f"for 1000 such files: {AIRFLOW_RESERIALIZE_S / figures['cold_s']:.1f}x faster (target 10x)"
    )
    print(
        f"stored {figures['bytes_per_dag']} B per DAG; Airflow stored {AIRFLOW_BYTES_PER_DAG} B: "
        f"{AIRFLOW_BYTES_PER_DAG / figures['bytes_per_dag']:.1f}x smaller (target 10x)"
    )
    print(f"warm pass median {figures['warm_s']} s (target < 1 s)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
