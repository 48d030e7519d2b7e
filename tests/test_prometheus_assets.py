"""The shipped ops assets (``deploy/``) are fed by what Airlock emits (ADR 0024).

A real Prometheus (Debian's ``prometheus`` package), started here on a free port with its own
config and storage, scrapes the ``/metrics`` endpoint of every ``run-all`` service while a DAG
runs; then every PromQL query of the Grafana dashboards and of the alert rules is evaluated
through Prometheus's HTTP API and must return data, and every metric a query names must be one
Airlock emitted. The alert rules pass ``promtool check rules``; the dashboards are JSON with
unique panel ids.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import service_unreachable
from tests.support.processes import RunAll, free_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
ALERTS = ROOT / "deploy" / "prometheus" / "airlock-alerts.yml"
#: Services run-all starts, each serving metrics on its own port (run_all._spread_prometheus_ports).
SERVICES = ["api", "scheduler", "worker", "triggerer", "callback-processor", "dag-processor"]
DAG_FILE = textwrap.dedent("""
    from datetime import datetime, timedelta, timezone
    from airlock.sdk import Asset, dag, task
    from airlock.sdk.sensors import DateTimeSensorAsync

    MEASURED = Asset("measured", uri="file://measured")

    @task
    def extract():
        return 21

    @task(outlets=[MEASURED])
    def double(value):
        return value * 2

    def note(context):
        print("measured succeeded")

    # A trigger (triggerer metrics), an asset event and its consumer's run (event metrics), a
    # callback (callback metrics), besides the tasks.
    @dag(
        schedule="@once",
        start_date=datetime(2026, 1, 1),
        catchup=False,
        on_success_callback=note,
    )
    def measured():
        # Seconds after the file is parsed: the run's sensor defers.
        soon = datetime.now(timezone.utc) + timedelta(seconds=6)
        wait = DateTimeSensorAsync(task_id="wait", target_time=soon)
        wait >> double(extract())

    @dag(schedule=[MEASURED], start_date=datetime(2026, 1, 1))
    def on_measured():
        extract()

    measured()
    on_measured()
""")


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        service_unreachable(f"{name} not installed: apt-get install -y prometheus (.ci/run does)")
    assert found is not None
    return found


def dashboard_queries() -> list[tuple[str, str]]:
    return [
        (f"{path.name}: {panel['title']}", target["expr"])
        for path in DASHBOARDS
        for panel in json.loads(path.read_text())["panels"]
        for target in panel["targets"]
    ]


def alert_queries() -> list[tuple[str, str]]:
    """Each rule's query without its threshold: the part that must return data."""
    text = ALERTS.read_text()
    names = re.findall(r"- alert: (\w+)", text)
    exprs = re.findall(r"expr: (.+)", text)
    assert len(names) == len(exprs) > 0
    return [
        (name, re.sub(r"\s*[<>]=?\s*[\d.]+\s*$", "", expr))
        for name, expr in zip(names, exprs, strict=True)
    ]


def metric_names(expr: str) -> set[str]:
    """The metrics a query names (label names in ``by (…)`` and ``{…}`` left out)."""
    bare = re.sub(r"by \([^)]*\)|\{[^}]*\}", "", expr)
    return set(re.findall(r"\b((?:airlock|http)_[a-z0-9_]+)\b", bare))


def test_dashboards_are_json_with_unique_panel_ids() -> None:
    assert len(DASHBOARDS) >= 4
    uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat: {ids}"
        uids.add(board["uid"])
    assert len(uids) == len(DASHBOARDS)


def test_alert_rules_pass_promtool() -> None:
    promtool = _binary("promtool")
    checked = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = _binary("prometheus")
    base = tmp_path_factory.mktemp("prometheus")
    dags = base / "dags"
    dags.mkdir()
    (dags / "measured.py").write_text(DAG_FILE)
    first = free_port()
    while not all(_port_free(first + i) for i in range(len(SERVICES))):
        first = free_port()
    stack = RunAll.start(base, dags, AIRLOCK_TELEMETRY__PROMETHEUS_PORT=str(first))
    port = free_port()
    config = base / "prometheus.yml"
    jobs = [
        {
            "job_name": f"airlock-{name}",
            "static_configs": [{"targets": [f"127.0.0.1:{first + offset}"]}],
        }
        for offset, name in enumerate(SERVICES)
    ]
    config.write_text(json.dumps({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs}))
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={base / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(base / "prometheus.log").open("wb"),
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)
        stack.stop()


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def fine(expr: str) -> str:
    """``expr`` with its subqueries stepped every second: a ``[15m:1m]`` subquery has data only
    once two minute boundaries have passed, which proves nothing more than a 1 s step does."""
    return re.sub(r"\[(\w+):\w+\]", r"[\1:1s]", expr)


def _query(url: str, expr: str) -> list[Any]:
    try:
        answer = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10)
    except httpx.TransportError:
        return []
    if answer.status_code == 503:  # still starting (replaying its write-ahead log)
        return []
    body = answer.json()
    assert body.get("status") == "success", f"{expr}: {body}"
    return list(body["data"]["result"])


@pytest.mark.slow
def test_every_dashboard_and_alert_query_returns_data(prometheus: str) -> None:
    queries = dashboard_queries() + alert_queries()
    missing: list[str] = []

    def all_answer() -> bool:
        missing[:] = [
            f"{where}: {expr}" for where, expr in queries if not _query(prometheus, fine(expr))
        ]
        return not missing

    assert wait_until(all_answer, 120, every_s=2), "queries without data:\n" + "\n".join(missing)
    emitted = set(httpx.get(f"{prometheus}/api/v1/label/__name__/values").json()["data"])
    named = set().union(*(metric_names(expr) for _, expr in queries))
    assert named <= emitted, f"queries name metrics Airlock does not emit: {named - emitted}"
