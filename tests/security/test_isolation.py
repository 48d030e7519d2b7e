"""User code cannot read any credential on a shared host (issue 18, part 1): a DAG file at parse
time, a task, a trigger and a callback, all spies, reach for every token holder's ``/proc`` files,
every file under
``AIRLOCK_HOME`` (keys, tokens, the SQLite file) and their parents' descriptors, on ``airlock
run-all`` — run as root here, with user code switched to ``nobody``, and with user code left as
root (the same user as the services: only Landlock and non-dumpable processes stand between)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import psutil
import pytest

from airlock.sdk.execution_time.supervised import landlock_abi
from tests.support.processes import RunAll

SPY = Path(__file__).with_name("spy_dag.py.txt").read_text()


def stack_pids(run_all: RunAll) -> list[int]:
    root = psutil.Process(run_all.process.pid)
    return [root.pid, *(p.pid for p in root.children(recursive=True))]


def home_files(home: Path) -> list[str]:
    return sorted(str(p) for p in home.rglob("*") if p.is_file())


def logged_in(run_all: RunAll) -> httpx.Client:
    web = httpx.Client(base_url=run_all.url, timeout=30)
    login = web.post(
        "/api/v1/auth/token", json={"username": "admin", "password": run_all.admin_password()}
    )
    web.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    return web


def wait_for_dag(web: httpx.Client, dag_id: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = web.get(f"/api/v1/dags/{dag_id}")
        if answer.status_code == 200:
            return answer.json()
        time.sleep(0.5)
    errors = web.get("/api/v1/importErrors").json()
    raise AssertionError(f"{dag_id} was never uploaded; import errors: {errors}")


def run_to_end(web: httpx.Client, dag_id: str, timeout_s: float = 60) -> tuple[str, dict]:
    created = web.post(f"/api/v1/dags/{dag_id}/dagRuns", json={})
    assert created.status_code in (200, 201), created.text
    run_id = created.json()["run_id"]
    path = f"/api/v1/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = web.get(path).json()
        if run["state"] in ("success", "failed"):
            return run_id, run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not end")


def task_log(web: httpx.Client, dag_id: str, run_id: str, task_id: str) -> list[str]:
    page = web.get(
        f"/api/v1/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/1"
    )
    lines: list[str] = page.json()["lines"]
    return lines


def wait_for_callback(web: httpx.Client, run_id: str, timeout_s: float = 60) -> dict:
    """The run's success callback once it ended (a leak makes it fail: spy() raises)."""
    path = f"/api/v1/dags/spy_isolation/dagRuns/{quote(run_id, safe='')}/callbacks"
    deadline = time.monotonic() + timeout_s
    callbacks: list[dict] = []
    while time.monotonic() < deadline:
        callbacks = web.get(path).json()["callbacks"]
        ended = [
            c for c in callbacks if c["kind"] == "dag_success" and c["state"] in ("success", "dead")
        ]
        if ended:
            return ended[0]
        time.sleep(0.5)
    raise AssertionError(f"the run's success callback did not end: {callbacks}")


@pytest.fixture(params=["nobody", "same-user"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunAll]:
    if request.param == "same-user" and landlock_abi() == 0:
        pytest.skip(
            "this kernel has no Landlock: user code of the services' own user is not "
            "narrowed (README: what single-node isolation guarantees)"
        )
    dags = tmp_path / "dags"
    dags.mkdir()
    settings = {}
    if request.param == "same-user":
        settings = {
            f"AIRLOCK_{service}__RUN_AS_USER": ""
            for service in ("WORKER", "DAG_PROCESSOR", "TRIGGERER", "CALLBACK_PROCESSOR")
        }
    run_all = RunAll.start(tmp_path, dags, **settings)
    try:
        yield run_all
    finally:
        run_all.stop()


@pytest.mark.slow
def test_a_spy_dag_file_task_trigger_and_callback_read_no_credential(stack: RunAll) -> None:
    home = stack.home
    files = home_files(home)
    assert any(f.endswith("jwt_signing.pem") for f in files)
    assert any(f.endswith("airlock.db") for f in files)
    assert any(f.endswith(".token") for f in files)
    # The home, its keys, tokens and DB file are private to the user that runs the services.
    assert home.stat().st_mode & 0o777 == 0o700
    assert all(Path(f).stat().st_mode & 0o077 == 0 for f in files if "/zones/" not in f)
    pids = stack_pids(stack)
    spy = SPY.replace("__PIDS__", repr(pids)).replace("__FILES__", repr(files))
    (home.parent / "dags" / "spy_isolation.py").write_text(spy)
    web = logged_in(stack)
    try:
        found = wait_for_dag(web, "spy_isolation")
        # Each process of the stack but the parser itself (it may be one of them), and each file.
        expected_reads = (len(set(pids)) - 1) * 24 + len(files)
        tried = int(found["description"].split()[0])
        assert tried >= expected_reads, found["description"]
        run_id, run = run_to_end(web, "spy_isolation", timeout_s=120)
        lines = task_log(web, "spy_isolation", run_id, "spy_task")
        trigger_lines = task_log(web, "spy_isolation", run_id, "spy_trigger")
        assert run["state"] == "success", (lines, trigger_lines)
        assert any("task spy:" in line and "reads refused" in line for line in lines), lines
        # The trigger spied in the triggerer's runner; its report came back with its event.
        assert any("trigger spy:" in line and "reads refused" in line for line in trigger_lines), (
            trigger_lines
        )
        callback = wait_for_callback(web, run_id)
        assert callback["state"] == "success", callback
        assert "callback spy:" in callback["log"], callback
        assert "reads refused" in callback["log"], callback
    finally:
        web.close()
