"""`airlock run-all` on a fresh home: it migrates, makes keys and an admin, serves the three APIs,
and stops every child on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from airlock.core.tokens import TokenKind
from airlock.core.tokens.keys import load_private_key
from airlock.core.tokens.signer import TokenSigner
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[1]


def wait_healthy(url: str, process: subprocess.Popen[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy")


def wait_for_dags(
    base: str, token: str, process: subprocess.Popen[str], timeout_s: float = 60
) -> None:
    """The DAG processor run-all started has uploaded the example bundle."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None
        files = httpx.get(
            base + "/internal/bundles/dags/files", headers={"Authorization": f"Bearer {token}"}
        ).json()
        dag_ids = {d for f in files["files"] for d in f["dag_ids"]}
        if "taskflow_etl" in dag_ids:
            return
        time.sleep(0.5)
    raise AssertionError("run-all's DAG processor never uploaded deploy/dags")


def schedulers(parent: psutil.Process) -> list[psutil.Process]:
    """The live scheduler children of ``parent`` (one that just died may linger as a zombie)."""
    found = []
    for child in parent.children():
        try:
            if "scheduler" in child.cmdline():
                found.append(child)
        except psutil.Error:
            continue
    return found


@pytest.mark.slow
def test_run_all_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
    env["AIRLOCK_HOME"] = str(tmp_path / "home")
    process = subprocess.Popen(
        [sys.executable, "-m", "airlock.cli", "run-all", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base + "/internal/health", process)
        for path in ("/api/v1/health", "/execution/health"):
            assert httpx.get(base + path).json()["status"] == "ok"
        password = (tmp_path / "home" / "admin-password.txt").read_text().strip()
        login = httpx.post(
            base + "/api/v1/auth/token", json={"username": "admin", "password": password}
        )
        assert login.status_code == 200
        token = TokenSigner(load_private_key(tmp_path / "home" / "keys" / "jwt_signing.pem")).issue(
            TokenKind.SERVICE, "test", 60, role="dag-processor", bundles=["dags"]
        )
        wait_for_dags(base, token, process)
        # The parent that lives as long as the stack is the small, stdlib-only supervisor, and
        # the services' settings are not on its command line.
        parent = psutil.Process(process.pid)
        assert any("stack_supervisor" in part for part in parent.cmdline())
        assert not [part for part in parent.cmdline() if "AIRLOCK" in part or "sqlite" in part]
        # A service that dies is started again.
        (scheduler,) = schedulers(parent)
        scheduler.kill()
        deadline = time.monotonic() + 20
        while not [c for c in schedulers(parent) if c.pid != scheduler.pid]:
            assert time.monotonic() < deadline, "the scheduler was not restarted"
            time.sleep(0.2)
        children = parent.children(recursive=True)
        assert children, "run-all starts its services as child processes"
        # Idle (its DAGs are paused), it holds no interpreter with nothing to do: the triggerer
        # starts its runner at its first trigger, the callback processor a child at its first
        # callback.
        idle = [" ".join(c.cmdline()) for c in children if c.is_running()]
        assert not [
            c
            for c in idle
            if "airlock.triggerer.runner" in c or "airlock.callback_processor.child" in c
        ], idle
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"API: http://127.0.0.1:{port}" in output
    assert "Log in as admin with password" in output
    assert "stopped" in output
    assert "DAG processor: bundle dags" in output
    assert (
        "scheduler exited with code -9 (1 time(s) in the last 60 s); restarting it in 0.5 s"
        in output
    )
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
