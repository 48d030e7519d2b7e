"""The whole stack as a user runs it: `airlock run-all`, then `airlock dags trigger --wait`.

Every example DAG in deploy/dags must run green; a failing DAG ends with exit code 1; killing the
worker, the scheduler or the API mid-run loses nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.processes import RunAll

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [
    "taskflow_etl",
    "dynamic_mapping",
    "branching",
    "groups_and_setup",
    "bash_and_sensor",
    "assets_producer",
    "example_callbacks",
]


class Stack(RunAll):
    def airlock(
        self, *args: str, check: bool = False, timeout: float = 180, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "airlock.cli", *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def children(self) -> dict[str, psutil.Process]:
        found = {}
        for child in psutil.Process(self.process.pid).children():
            cmd = " ".join(child.cmdline())
            for name in ("scheduler", "worker", "dag-processor", " api "):
                if name.strip() in cmd.split():
                    found[name.strip()] = child
        return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("stack")
    dags = base / "dags"
    shutil.copytree(ROOT / "deploy" / "dags", dags)
    (dags / "failing.py").write_text(
        textwrap.dedent("""
        from datetime import datetime
        from airlock.sdk import dag, task

        @dag(schedule=None, start_date=datetime(2026, 1, 1))
        def failing():
            @task(retries=0)
            def boom():
                raise RuntimeError("this task fails on purpose")

            @task
            def never():
                return 1

            boom() >> never()

        failing()
        """)
    )
    (dags / "slow.py").write_text(
        textwrap.dedent("""
        from datetime import datetime, timedelta
        from airlock.sdk import dag, task

        @dag(schedule=None, start_date=datetime(2026, 1, 1))
        def slow():
            @task(retries=2, retry_delay=timedelta(seconds=1))
            def nap():
                import time
                time.sleep(4)
                return "rested"

            @task
            def after(value):
                print(value)

            after(nap())

        slow()
        """)
    )
    stack = Stack.start(
        base,
        dags,
        AIRLOCK_SCHEDULER__TASK_HEARTBEAT_TIMEOUT_S="6",
        AIRLOCK_WORKER__HEARTBEAT_S="1",
    )
    try:
        login = subprocess.run(
            [sys.executable, "-m", "airlock.cli", "login", "-u", "admin", "--password-stdin"],
            env=stack.env,
            input=stack.admin_password(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert login.returncode == 0, login.stdout + login.stderr
        yield stack
    finally:
        stack.stop()


def trigger(
    stack: Stack, dag_id: str, *extra: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    deadline = time.monotonic() + 60
    while True:
        result = stack.airlock(
            "dags", "trigger", dag_id, "--wait", "--timeout", str(timeout), *extra
        )
        if "not found" not in result.stderr or time.monotonic() > deadline:
            return result
        time.sleep(0.5)  # the DAG processor has not uploaded the file yet


@pytest.mark.slow
@pytest.mark.parametrize("dag_id", EXAMPLES)
def test_example_dag_runs_green(stack: Stack, dag_id: str) -> None:
    result = trigger(stack, dag_id)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ": success in" in result.stdout


@pytest.mark.slow
def test_failing_dag_exits_1_and_names_the_task(stack: Stack) -> None:
    result = trigger(stack, "failing")
    assert result.returncode == 1, result.stdout + result.stderr
    assert ": failed in" in result.stdout
    assert "boom: failed" in result.stdout
    assert "never: upstream_failed" in result.stdout


@pytest.mark.slow
def test_conf_reaches_the_run(stack: Stack) -> None:
    result = trigger(stack, "branching", "--conf", '{"source": "test"}')
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_bad_conf_is_a_clear_error(stack: Stack) -> None:
    result = stack.airlock("dags", "trigger", "branching", "--conf", "[1, 2]")
    assert result.returncode == 2
    assert "--conf must be a JSON object" in result.stderr


@pytest.mark.slow
def test_unknown_dag_is_a_clear_error(stack: Stack) -> None:
    result = stack.airlock("dags", "trigger", "no_such_dag")
    assert result.returncode == 2
    assert "DAG 'no_such_dag' not found" in result.stderr


@pytest.mark.slow
def test_worker_killed_mid_task_the_run_still_finishes(stack: Stack) -> None:
    waiter = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airlock.cli",
            "dags",
            "trigger",
            "slow",
            "--wait",
            "--timeout",
            "120",
        ],
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.5)  # `nap` is running now
    worker = stack.children()["worker"]
    for proc in [worker, *worker.children(recursive=True)]:
        proc.kill()
    out, err = waiter.communicate(timeout=150)
    # run-all restarts the worker; the scheduler finds the killed task's heartbeat stopped and retries it.
    assert waiter.returncode == 0, out + err
