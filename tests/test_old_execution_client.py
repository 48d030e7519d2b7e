"""A worker built for Execution API 2026-11-01 keeps working against the head server.

The worker is the frozen client in ``tests/fixtures/old_clients/execution_2026_11_01`` (a copy
of the SDK's client and Structs of that version). Against a real ``airlock api`` it drives a
whole DAG run, as a task runner on a queue of its own: it polls for workloads, starts each task,
reads the upstream XCom, pushes its own, and reports success; the server queues the next task
each time, and the scheduler ends the run in success. Every payload it receives must decode into
its 2026-11-01 Structs (msgspec refuses a missing required field such as ``relative_fileloc``).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import httpx
import pytest

from airlock.core.tokens import TokenKind
from tests.fixtures.old_clients.execution_2026_11_01 import API_VERSION, ExecutionClient, models
from tests.support.processes import ApiServer, Home

pytestmark = pytest.mark.slow

DAG_FILE = """
from airlock.sdk import dag, task

@dag(schedule=None)
def {dag_id}():
    @task(queue="{queue}")
    def extract():
        return 1

    @task(queue="{queue}", retries=2)
    def transform(value):
        return value + 1

    @task(queue="{queue}")
    def load(value):
        return value * 10

    load(transform(extract()))

{dag_id}()
"""

#: What each task does with its upstream's value, as the Python tasks above would.
WORK = {"extract": lambda _: 1, "transform": lambda v: v + 1, "load": lambda v: v * 10}
UPSTREAM = {"extract": None, "transform": "extract", "load": "transform"}


def upload(home: Home, api: ApiServer, bundle: str, folder: Path) -> None:
    token = home.token(TokenKind.SERVICE, "dag-processor", role="dag-processor", bundles=[bundle])
    folder.chmod(0o755)  # DAG files are parsed as nobody: the bundle must be theirs to read
    env = {
        **home.zone_env("processing"),
        "AIRLOCK_DAG_PROCESSOR__API_URL": api.url,
        "AIRLOCK_DAG_PROCESSOR__TOKEN": token,
        "AIRLOCK_DAG_PROCESSOR__BUNDLES": f"{bundle}={folder}",
    }
    result = subprocess.run(
        [sys.executable, "-m", "airlock.cli", "dag-processor", "--bundle", bundle, "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "1 new DAG version(s), 0 import error(s)" in result.stdout, result.stdout


def run_one(worker: ExecutionClient, api: ApiServer, queue: str) -> tuple[str, object, object]:
    """Take one workload from ``queue`` and run it as a 2026-11-01 runner would."""
    batch = worker.next_workloads(models.WorkloadRequest(worker="old-w", queues=[queue], wait_s=5))
    assert isinstance(batch, models.WorkloadBatch)
    (workload,) = batch.workloads
    assert workload.relative_fileloc.endswith(".py")
    ti = workload.ti
    with ExecutionClient(api.url, workload.token) as task:
        start = models.TaskStart(hostname="old-host", pid=4242, start_date=_now())
        context = task.start(ti.id, start)
        assert isinstance(context, models.TaskRunContext)
        assert context.try_number == 1
        reply = task.heartbeat(ti.id, models.Heartbeat(hostname="old-host", pid=4242))
        assert reply.keep_running
        upstream = UPSTREAM[ti.task_id]
        value = task.pull_xcom(ti.dag_id, ti.run_id, upstream) if upstream is not None else None
        result = WORK[ti.task_id](value)
        task.push_xcom(ti.id, "return_value", result)
        task.send_logs(ti.id, models.LogBatch(try_number=1, seq=0, lines=[f"got {value}"]))
        ended = task.finish(ti.id, models.TaskSucceeded(end_date=_now()))
        assert ended.state == models.TaskInstanceState.SUCCESS
    return ti.task_id, value, result


def test_a_2026_11_01_worker_runs_a_whole_dag_run_against_the_head_server(
    home: Home, api: ApiServer, tmp_path: Path
) -> None:
    dag_id = f"old_client_{uuid.uuid4().hex[:8]}"
    queue = f"q_{dag_id}"
    bundle = f"b_{dag_id}"
    (tmp_path / f"{dag_id}.py").write_text(
        textwrap.dedent(DAG_FILE.format(dag_id=dag_id, queue=queue))
    )
    upload(home, api, bundle, tmp_path)

    user = {"Authorization": f"Bearer {home.token(TokenKind.USER, 'ann', roles=['admin'])}"}
    with httpx.Client(base_url=api.url, headers=user, timeout=30) as web:
        created = web.post(f"/api/v1/dags/{dag_id}/dagRuns", json={"run_id": "old_client_run"})
        assert created.status_code == 201, created.text

        worker = ExecutionClient(api.url, home.token(TokenKind.WORKER, "old-w"))
        with worker:
            ran = [run_one(worker, api, queue) for _ in range(3)]
        assert ran == [("extract", None, 1), ("transform", 1, 2), ("load", 2, 20)]

        subprocess.run(
            [sys.executable, "-m", "airlock.cli", "scheduler", "--once"],
            env=home.env,
            capture_output=True,
            timeout=120,
            check=True,
        )
        run = _wait_for_run(web, dag_id, "old_client_run")
    assert run["state"] == "success", run


def test_the_frozen_client_says_it_speaks_2026_11_01(api: ApiServer, home: Home) -> None:
    assert API_VERSION == "2026-11-01"
    seen: list[str] = []

    def record(request: httpx.Request) -> None:
        seen.append(request.headers["Airlock-API-Version"])

    worker = ExecutionClient(api.url, home.token(TokenKind.WORKER, "old-w"))
    worker._client.event_hooks["request"].append(record)
    with worker:
        batch = worker.next_workloads(
            models.WorkloadRequest(worker="old-w", queues=["nothing-here"], wait_s=0)
        )
    assert batch.workloads == []
    assert seen == ["2026-11-01"]


def _wait_for_run(web: httpx.Client, dag_id: str, run_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while True:
        run: dict[str, object] = web.get(f"/api/v1/dags/{dag_id}/dagRuns/{run_id}").json()
        if run["state"] != "running" or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
