"""`just bench web`: the Web API's read paths with many DAGs in the DB.

Fills a fresh database with N DAGs (one version and one run each, rows inserted directly: this
bench is control-plane code) plus one DAG of 1,000 tasks in task groups, starts one
`airlock api --apps web` process, and measures, over --requests sequential requests each on
one keep-alive connection:

  - the first page of the DAG list (50 DAGs with last run and next run),
  - the detail of a DAG picked at random,
  - the graph of the 1,000-task DAG;

then the RSS of the Web API process. It does this twice, first with --small DAGs, then with N,
to show the memory does not grow with the number of DAGs (the API keeps no DAG between
requests). Targets: DAG list p99 < 50 ms, graph of 1,000 tasks p99 < 100 ms.
The last line is one JSON object: dag_list_p50_ms, dag_list_p99_ms, dag_detail_p99_ms,
graph_1000_p99_ms, rss_mb (at N DAGs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psutil
from _stack import AIRLOCK, Home, free_port, fresh_home
from sqlalchemy import insert, select, text, update

from airlock.db import Bundle, Dag, DagRun, DagVersion, make_engine, make_session_factory
from airlock.models.codec import encode_and_compress
from airlock.models.dag import (
    SerializedDag,
    SerializedEdge,
    SerializedTask,
    SerializedTaskGroup,
)
from airlock.models.states import DagRunState, DagRunType

BIG_DAG = "big_graph_1000"
BUNDLES = 10
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PASSWORD = "bench-password"


def _task(task_id: str, **options: Any) -> SerializedTask:
    return SerializedTask(
        task_id=task_id,
        operator_class="airlock.sdk.EmptyOperator",
        operator_name="EmptyOperator",
        **options,
    )


def small_dag(dag_id: str) -> SerializedDag:
    tasks = [
        _task("extract", downstream=["transform"]),
        _task("transform", upstream=["extract"], downstream=["load"]),
        _task("load", upstream=["transform"]),
    ]
    edges = [
        SerializedEdge(source="extract", target="transform"),
        SerializedEdge(source="transform", target="load"),
    ]
    return SerializedDag(dag_id=dag_id, tasks=tasks, edges=edges, tags=["bench"], owners=["bench"])


def big_dag(n_tasks: int) -> SerializedDag:
    """``n_tasks`` tasks in groups of 50, each group a chain, the groups chained with labels."""
    tasks: list[SerializedTask] = []
    edges: list[SerializedEdge] = []
    groups: list[SerializedTaskGroup] = []
    per_group = 50
    for g in range(n_tasks // per_group):
        group_id = f"stage_{g:02d}"
        ids = [f"{group_id}.step_{i:02d}" for i in range(per_group)]
        groups.append(SerializedTaskGroup(group_id=group_id, children=ids))
        for i, task_id in enumerate(ids):
            tasks.append(_task(task_id, group_id=group_id))
            if i:
                edges.append(SerializedEdge(source=ids[i - 1], target=task_id))
        if g:
            edges.append(
                SerializedEdge(
                    source=f"stage_{g - 1:02d}.step_{per_group - 1:02d}",
                    target=ids[0],
                    label=f"after stage {g - 1}",
                )
            )
    return SerializedDag(dag_id=BIG_DAG, tasks=tasks, edges=edges, task_groups=groups)


def fill(db_url: str, start: int, stop: int, *, with_big: bool) -> None:
    """DAGs ``start..stop-1`` (and the big one), one version and one run each, in bulk."""
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine).begin() as session:
            if with_big:
                session.execute(
                    insert(Bundle), [{"name": f"team-{b}", "kind": "local"} for b in range(BUNDLES)]
                )
            dags: list[dict[str, Any]] = []
            versions: list[dict[str, Any]] = []
            runs: list[dict[str, Any]] = []
            serialized = [(f"dag_{i:05d}", small_dag(f"dag_{i:05d}")) for i in range(start, stop)]
            if with_big:
                serialized.append((BIG_DAG, big_dag(1000)))
            for number, (dag_id, dag) in enumerate(serialized, start=start):
                blob, content_hash = encode_and_compress(dag)
                bundle = f"team-{number % BUNDLES}"
                dags.append(
                    {
                        "dag_id": dag_id,
                        "bundle_name": bundle,
                        "fileloc": f"/bundles/{bundle}/{dag_id}.py",
                        "relative_fileloc": f"{dag_id}.py",
                        "tags": list(dag.tags),
                        "owners": list(dag.owners),
                        "timetable_summary": "@daily",
                        "schedule": "@daily",
                        "next_dagrun": T0 + dt.timedelta(days=1),
                        "next_dagrun_create_after": T0 + dt.timedelta(days=2),
                    }
                )
                versions.append(
                    {
                        "dag_id": dag_id,
                        "version_number": 1,
                        "content_hash": content_hash,
                        "blob": blob,
                        "blob_size": len(blob),
                        "decompressed_size": 0,
                        "bundle_name": bundle,
                    }
                )
            session.execute(insert(Dag), dags)
            session.execute(insert(DagVersion), versions)
            session.execute(
                update(Dag)
                .where(Dag.latest_version_id.is_(None))
                .values(
                    latest_version_id=select(DagVersion.id)
                    .where(DagVersion.dag_id == Dag.dag_id)
                    .scalar_subquery()
                )
            )
            ids = dict(
                session.execute(
                    text("SELECT dag_id, id FROM dag_version WHERE dag_id >= :a AND dag_id < :b"),
                    {"a": f"dag_{start:05d}", "b": f"dag_{stop:05d}"},
                ).all()
            )
            if with_big:
                ids.update(
                    session.execute(
                        text("SELECT dag_id, id FROM dag_version WHERE dag_id = :d"), {"d": BIG_DAG}
                    ).all()
                )
            for dag_id, version_id in ids.items():
                runs.append(
                    {
                        "dag_id": dag_id,
                        "run_id": "scheduled__2026-01-01",
                        "dag_version_id": version_id,
                        "run_after": T0,
                        "logical_date": T0,
                        "run_type": DagRunType.SCHEDULED,
                        "state": DagRunState.SUCCESS,
                        "conf": {},
                    }
                )
            session.execute(insert(DagRun), runs)
    finally:
        engine.dispose()


@contextmanager
def web_api(home: Home) -> Iterator[tuple[str, int]]:
    """One `airlock api --apps web` process; its URL and pid."""
    port = free_port()
    process = subprocess.Popen(
        [*AIRLOCK, "api", "--apps", "web", "--port", str(port)],
        env=home.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the Web API did not start")
            time.sleep(0.05)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(10)


def timed(client: httpx.Client, n: int, path: Callable[[], str]) -> list[float]:
    """Milliseconds of ``n`` sequential GETs (after 10 unmeasured ones)."""
    for _ in range(10):
        client.get(path()).raise_for_status()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path())
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return samples


def p(samples: list[float], q: float) -> float:
    return round(statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1], 2)


def measure(home: Home, n_dags: int, requests: int) -> dict[str, float]:
    rng = random.Random(5)
    with web_api(home) as (url, pid):
        login = httpx.post(
            url + "/api/v1/auth/token", json={"username": "bench", "password": PASSWORD}
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        with httpx.Client(base_url=url + "/api/v1", headers=headers, timeout=30) as client:
            first_page = client.get("/dags?limit=50").json()
            assert first_page["total_entries"] == n_dags + 1, first_page["total_entries"]
            assert first_page["dags"][0]["last_run"]["state"] == "success"
            graph = client.get(f"/dags/{BIG_DAG}/dagVersions/1/graph").json()
            assert len(graph["nodes"]) == 1000
            listing = timed(client, requests, lambda: "/dags?limit=50")
            detail = timed(client, requests, lambda: f"/dags/dag_{rng.randrange(n_dags):05d}")
            graphs = timed(client, requests, lambda: f"/dags/{BIG_DAG}/dagVersions/1/graph")
        rss_mb = psutil.Process(pid).memory_info().rss / 2**20
    return {
        "dag_list_p50_ms": p(listing, 50),
        "dag_list_p99_ms": p(listing, 99),
        "dag_detail_p50_ms": p(detail, 50),
        "dag_detail_p99_ms": p(detail, 99),
        "graph_1000_p50_ms": p(graphs, 50),
        "graph_1000_p99_ms": p(graphs, 99),
        "rss_mb": round(rss_mb, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dags", type=int, default=10_000, help="DAGs in the DB (default 10000)")
    parser.add_argument("--small", type=int, default=1_000, help="DAGs in the first pass")
    parser.add_argument("--requests", type=int, default=500, help="requests per figure")
    parser.add_argument("--db-url", help="a database URL (default: SQLite in a fresh home)")
    args = parser.parse_args()
    if not 0 < args.small < args.dags:
        parser.error("--small must be between 0 and --dags")

    home = fresh_home(args.db_url)
    db_url = args.db_url or f"sqlite:///{home.path / 'airlock.db'}"
    subprocess.run(
        [*AIRLOCK, "users", "create", "bench", "--role", "viewer", "--password-stdin"],
        env=home.env,
        input=PASSWORD + "\n",
        check=True,
        capture_output=True,
        text=True,
    )
    results = {}
    for count, start in ((args.small, 0), (args.dags, args.small)):
        started = time.monotonic()
        fill(db_url, start, count, with_big=start == 0)
        print(
            f"{count} DAGs (+ one of 1,000 tasks) in the DB, filled in {time.monotonic() - started:.1f} s"
        )
        results[count] = measure(home, count, args.requests)
        figures = results[count]
        print(
            f"  DAG list page  p50 {figures['dag_list_p50_ms']:6.2f} ms  p99 {figures['dag_list_p99_ms']:6.2f} ms\n"
            f"  DAG detail     p50 {figures['dag_detail_p50_ms']:6.2f} ms  p99 {figures['dag_detail_p99_ms']:6.2f} ms\n"
            f"  graph (1,000)  p50 {figures['graph_1000_p50_ms']:6.2f} ms  p99 {figures['graph_1000_p99_ms']:6.2f} ms\n"
            f"  Web API RSS    {figures['rss_mb']:.1f} MB",
            flush=True,
        )
    small, large = results[args.small], results[args.dags]
    print(
        f"RSS with {args.small} DAGs: {small['rss_mb']:.1f} MB; with {args.dags}: "
        f"{large['rss_mb']:.1f} MB ({large['rss_mb'] - small['rss_mb']:+.1f} MB)"
    )
    print(
        json.dumps(
            {
                "dag_list_p50_ms": large["dag_list_p50_ms"],
                "dag_list_p99_ms": large["dag_list_p99_ms"],
                "dag_detail_p99_ms": large["dag_detail_p99_ms"],
                "graph_1000_p99_ms": large["graph_1000_p99_ms"],
                "rss_mb": large["rss_mb"],
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
