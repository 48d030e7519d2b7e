"""Tasks in another language: the Node.js runner (libs/runner-node) beside a Python worker.

`airlock run-all` starts the API, scheduler, DAG processor and a Python worker for the default
queue; the Node.js runner (`node libs/runner-node/lib/cli.js`) serves queue ``node`` with a worker
token from `airlock tokens issue --kind worker --queue node`. The DAGs are Python files whose
JavaScript tasks are ``@task.stub(queue="node")``: the example deploy/dags/mixed_languages.py
(Python → JavaScript → Python, XComs both ways) and tests/fixtures/node_runner/node_failing.py
(a JavaScript error is retried like a Python one; AirlockFailException is not retried).

Also runs the runner's own unit tests (`node --test`) and its type check (`tsc` over the JSDoc
types, once `npm ci --prefix libs/runner-node` installed TypeScript). Skipped when `node` is
missing, unless CI is set: then it must run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.processes import RunAll

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "libs" / "runner-node"
FIXTURES = ROOT / "tests" / "fixtures" / "node_runner"
NODE = shutil.which("node")
AIRLOCK = [sys.executable, "-m", "airlock.cli"]

if NODE is None and not os.environ.get("CI"):
    pytest.skip(
        "node is not installed: the Node.js runner's tests need Node.js 20 or newer "
        "(with CI set they run and fail instead)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.slow

TERMINAL_RUN_STATES = {"success", "failed"}


def node() -> str:
    assert NODE is not None, "CI is set but `node` is not on PATH: install Node.js 20 or newer"
    return NODE


def test_runner_unit_tests_pass() -> None:
    result = subprocess.run(
        [node(), "--test", "test/"],
        cwd=RUNNER,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout


def test_runner_type_checks() -> None:
    tsc = RUNNER / "node_modules" / ".bin" / "tsc"
    if not tsc.exists():
        if not os.environ.get("CI"):
            pytest.skip("TypeScript is not installed: run `npm ci --prefix libs/runner-node`")
        raise AssertionError("CI is set but libs/runner-node has no node_modules: run `npm ci`")
    result = subprocess.run(
        [str(tsc), "-p", "jsconfig.json"],
        cwd=RUNNER,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@dataclass
class Stack:
    url: str
    web: httpx.Client
    run_all: RunAll
    runner: subprocess.Popen[str]
    runner_log: Path

    def trigger(self, dag_id: str, timeout_s: float = 90) -> tuple[str, dict[str, Any]]:
        """Trigger a run of ``dag_id`` (waiting for its upload) and wait for its end."""
        deadline = time.monotonic() + timeout_s
        while True:
            created = self.web.post(f"/api/v1/dags/{dag_id}/dagRuns", json={})
            if created.status_code != 404:
                break
            assert time.monotonic() < deadline, f"DAG {dag_id} was never uploaded"
            time.sleep(0.3)
        assert created.status_code in (200, 201), created.text
        run_id = created.json()["run_id"]
        while True:
            run = self.web.get(f"/api/v1/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}").json()
            if run["state"] in TERMINAL_RUN_STATES:
                return run_id, run
            assert time.monotonic() < deadline, (
                f"run {run_id} of {dag_id} is still {run['state']}: {self.task_instances(dag_id, run_id)}"
                f"\nrunner output:\n{self.runner_output()}"
            )
            time.sleep(0.2)

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        listing = self.web.get(
            f"/api/v1/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        ).json()
        return {ti["task_id"]: ti for ti in listing["task_instances"]}

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[str]:
        page = self.web.get(
            f"/api/v1/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/"
            f"{task_id}/logs/{try_number}"
        )
        assert page.status_code == 200, page.text
        lines: list[str] = page.json()["lines"]
        return lines

    def runner_output(self) -> str:
        return self.runner_log.read_text()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("node-stack")
    dags = base / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "deploy" / "dags" / "mixed_languages.py", dags)
    shutil.copy(FIXTURES / "node_failing.py", dags)
    runner_log = base / "runner-node.log"
    run_all = RunAll.start(base, dags, AIRLOCK_WORKER__HEARTBEAT_S="1")
    url = run_all.url
    web = httpx.Client(base_url=url, timeout=30)
    runner: subprocess.Popen[str] | None = None
    try:
        login = web.post(
            "/api/v1/auth/token",
            json={"username": "admin", "password": run_all.admin_password()},
        )
        web.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        token = subprocess.run(
            [*AIRLOCK, "tokens", "issue", "--kind", "worker", "--queue", "node"],
            env=run_all.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        runner_env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
        runner_env["AIRLOCK_WORKER__TOKEN"] = token
        with runner_log.open("w") as output:
            runner = subprocess.Popen(
                [
                    node(),
                    str(RUNNER / "lib" / "cli.js"),
                    "--tasks",
                    str(ROOT / "deploy" / "dags" / "mixed_languages.mjs"),
                    "--tasks",
                    str(FIXTURES / "tasks.mjs"),
                    "--queues",
                    "node",
                    "--api-url",
                    url,
                    "--heartbeat-s",
                    "1",
                    "--log-batch-s",
                    "0.2",
                ],
                env=runner_env,
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
            )
        yield Stack(url, web, run_all, runner, runner_log)
    finally:
        if runner is not None:
            runner.send_signal(signal.SIGTERM)
            try:
                runner.wait(15)
            except subprocess.TimeoutExpired:
                runner.kill()
        run_all.stop()
        web.close()


def test_xcoms_flow_python_to_javascript_to_python(stack: Stack) -> None:
    run_id, run = stack.trigger("mixed_languages")
    tis = stack.task_instances("mixed_languages", run_id)
    assert run["state"] == "success", (tis, stack.runner_output())
    assert {task_id: ti["state"] for task_id, ti in tis.items()} == {
        "extract": "success",
        "summarize": "success",
        "load": "success",
    }
    assert tis["summarize"]["operator"] == "@task.stub"
    assert f"mixed_languages.summarize run {run_id}: success in" in stack.runner_output()
    # The JavaScript task read extract's XCom and shipped its console output as its log ...
    js_log = stack.log("mixed_languages", run_id, "summarize", 1)
    assert any(line.startswith("summing 3 orders in EUR on Node.js v") for line in js_log), js_log
    # ... and the Python task downstream received its return value and its pushed XCom.
    py_log = stack.log("mixed_languages", run_id, "load", 1)
    expected = (
        "summary from JavaScript: {'total': 50, 'count': 3, 'currency': 'EUR'}, largest order: 30"
    )
    assert expected in py_log, py_log


def test_a_failing_javascript_task_is_retried_then_fails_the_run(stack: Stack) -> None:
    run_id, run = stack.trigger("node_failing")
    assert run["state"] == "failed"
    tis = stack.task_instances("node_failing", run_id)
    assert tis["explode"]["state"] == "failed"
    assert tis["explode"]["try_number"] == 2
    assert tis["never"]["state"] == "upstream_failed"
    for try_number in (1, 2):
        lines = stack.log("node_failing", run_id, "explode", try_number)
        assert f"explode: try {try_number} of 2" in lines, lines
        assert any("Error: exploded on purpose" in line for line in lines), lines


def test_airlock_fail_exception_skips_the_retries(stack: Stack) -> None:
    run_id, run = stack.trigger("node_fail_fast")
    assert run["state"] == "failed"
    give_up = stack.task_instances("node_fail_fast", run_id)["give_up"]
    assert (give_up["state"], give_up["try_number"], give_up["max_tries"]) == ("failed", 1, 3)
    lines = stack.log("node_fail_fast", run_id, "give_up", 1)
    assert "give_up: try 1" in lines, lines
