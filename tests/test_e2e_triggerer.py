"""Deferrable tasks across real processes: `airlock run-all` (with its triggerer), a DAG whose
tasks defer, and the Web API watching them wait in ``deferred`` — their worker slots free —
then resume on a worker, once, with the trigger's event."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import RunAll
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunAll]:
    base = tmp_path_factory.mktemp("trig")
    dags = base / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "deploy" / "dags" / "deferrable.py", dags)
    (dags / "trigger_troubles.py").write_text(
        textwrap.dedent("""
        import asyncio
        from datetime import datetime
        from airlock.sdk import DAG, BaseOperator, BaseTrigger, TriggerEvent

        class Raising(BaseTrigger):
            def serialize(self):
                return f"{type(self).__module__}.Raising", {}

            async def run(self):
                await asyncio.sleep(0.1)
                raise ValueError("the watched job vanished")
                yield

        class Waiter(BaseOperator):
            def __init__(self, *, classpath=None, **kwargs):
                super().__init__(**kwargs)
                self.classpath = classpath

            def execute(self, context):
                trigger = Raising()
                if self.classpath:
                    trigger.serialize = lambda: (self.classpath, {})
                self.defer(trigger=trigger, method_name="execute_complete")

            def execute_complete(self, context, event=None):
                return event

        with DAG(dag_id="trigger_troubles", schedule=None, start_date=datetime(2026, 1, 1)):
            Waiter(task_id="raises", retries=0)
            Waiter(task_id="unimportable", classpath="no_such_module.Nothing", retries=0)

        class Parked(BaseOperator):
            def execute(self, context):
                from airlock.sdk import TimeDeltaTrigger
                self.defer(trigger=TimeDeltaTrigger(3600), method_name="execute_complete")

        with DAG(dag_id="parked", schedule=None, start_date=datetime(2026, 1, 1)):
            Parked(task_id="for_an_hour", retries=0)
        """)
    )
    stack = RunAll.start(base, dags)
    try:
        yield stack
    finally:
        stack.stop()


def _client(stack: RunAll) -> httpx.Client:
    token = httpx.post(
        f"{stack.url}/api/v1/auth/token",
        json={"username": "admin", "password": stack.admin_password()},
        timeout=10,
    ).json()["access_token"]
    return httpx.Client(
        base_url=f"{stack.url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def _trigger(web: httpx.Client, dag_id: str) -> str:
    deadline = time.monotonic() + 60
    while True:
        answer = web.post(f"/dags/{dag_id}/dagRuns", json={})
        if answer.status_code == 201:
            return str(answer.json()["run_id"])
        assert time.monotonic() < deadline, answer.text  # the DAG processor is slow to upload
        time.sleep(0.5)


def _states(web: httpx.Client, dag_id: str, run_id: str) -> dict[str, Any]:
    answer = web.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
    assert answer.status_code == 200, answer.text
    return {ti["task_id"]: ti for ti in answer.json()["task_instances"]}


def _follow(web: httpx.Client, dag_id: str, run_id: str, timeout_s: float) -> list[dict[str, str]]:
    """Every state change seen, until the run ends; the snapshots."""
    seen: list[dict[str, str]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = web.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()
        seen.append({t: ti["state"] for t, ti in _states(web, dag_id, run_id).items()})
        if run["state"] in ("success", "failed"):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} of {dag_id} did not end in {timeout_s} s: {seen[-1:]}")


def _log(web: httpx.Client, dag_id: str, run_id: str, task_id: str) -> str:
    answer = web.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/1")
    assert answer.status_code == 200, answer.text
    return "\n".join(answer.json()["lines"])


@pytest.mark.slow
def test_deferred_tasks_wait_in_the_triggerer_and_resume_on_a_worker(stack: RunAll) -> None:
    with _client(stack) as web:
        run_id = _trigger(web, "deferrable")
        seen = _follow(web, "deferrable", run_id, timeout_s=90)
        final = _states(web, "deferrable", run_id)
        assert {t: ti["state"] for t, ti in final.items()} == {
            "wait_a_moment": "success",
            "countdown": "success",
            "report": "success",
        }, stack.output()[-4000:]
        # Both waits were handed to the triggerer: the tasks sat in `deferred`, off the worker.
        assert any(s.get("wait_a_moment") == "deferred" for s in seen)
        assert any(s.get("countdown") == "deferred" for s in seen)
        # The resume continues the try (no new try counted) and gets the trigger's event.
        assert final["countdown"]["try_number"] == 1
        assert "resumed after the countdown: {'counted': 1}" in _log(
            web, "deferrable", run_id, "countdown"
        )
        xcom = web.get(
            f"/dags/deferrable/dagRuns/{run_id}/taskInstances/report/xcomEntries/return_value"
        )
        assert xcom.status_code == 200, xcom.text
        assert "waited, then counted 1" in xcom.text
        health = web.get("/monitor/health").json()
        (triggerer,) = [c for c in health["components"] if c["kind"] == "triggerer"]
        assert (triggerer["status"], triggerer["capacity"]) == ("healthy", 1000)


@pytest.mark.slow
def test_a_raising_or_unimportable_trigger_fails_its_task_with_the_traceback(
    stack: RunAll,
) -> None:
    with _client(stack) as web:
        run_id = _trigger(web, "trigger_troubles")
        _follow(web, "trigger_troubles", run_id, timeout_s=90)
        final = _states(web, "trigger_troubles", run_id)
        assert final["raises"]["state"] == "failed"
        assert final["unimportable"]["state"] == "failed"
        raised = _log(web, "trigger_troubles", run_id, "raises")
        assert "ValueError: the watched job vanished" in raised
        assert "Traceback (most recent call last)" in raised
        missing = _log(web, "trigger_troubles", run_id, "unimportable")
        assert "No module named 'no_such_module'" in missing


@pytest.mark.slow
def test_a_waiting_trigger_is_listed_and_marking_its_task_cancels_it(stack: RunAll) -> None:
    with _client(stack) as web:
        run_id = _trigger(web, "parked")
        path = f"/dags/parked/dagRuns/{run_id}/taskInstances/for_an_hour"
        deadline = time.monotonic() + 60
        while (web.get(path).json().get("trigger") or {}).get("triggerer") is None:
            assert time.monotonic() < deadline, web.get(path).text
            time.sleep(0.3)
        trigger = web.get(path).json()["trigger"]
        assert trigger["classpath"] == "airlock.sdk.triggers.temporal.DateTimeTrigger"
        login = subprocess.run(
            [sys.executable, "-m", "airlock.cli", "login", "-u", "admin", "--password-stdin"],
            env=stack.env,
            input=stack.admin_password(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert login.returncode == 0, login.stderr
        listed = subprocess.run(
            [sys.executable, "-m", "airlock.cli", "triggers", "list", "-o", "json"],
            env=stack.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        (row,) = [t for t in json.loads(listed.stdout)["triggers"] if t["dag_id"] == "parked"]
        assert row["id"] == trigger["id"]
        marked = web.patch(path, json={"new_state": "failed"})
        assert marked.status_code == 200, marked.text
        deadline = time.monotonic() + 30
        while "was cancelled" not in stack.output():
            assert time.monotonic() < deadline, stack.output()[-3000:]
            time.sleep(0.3)


@pytest.mark.slow
def test_the_triggerer_holds_no_db_url_and_its_runner_no_token(stack: RunAll) -> None:
    import psutil

    def runners() -> list[psutil.Process]:
        return [p for p, command in stack.processes() if "airlock.triggerer.runner" in command]

    # The runner starts when the triggerer leases its first trigger: park a task on one.
    _trigger(_client(stack), "parked")
    assert wait_until(lambda: len(runners()) == 1, 60), "the runner started"
    (triggerer,) = [p for p, command in stack.processes() if command[-1:] == ["triggerer"]]
    (runner,) = runners()
    assert runner.ppid() == triggerer.pid
    # What /proc shows: the environment run-all's fork server started with (no setting at all);
    # the triggerer's own settings live only in its memory.
    parent_env = triggerer.environ()
    assert not [k for k in parent_env if k.startswith(("AIRLOCK_DATABASE", "AIRLOCK_SECRETS"))]
    assert "sqlite" not in " ".join(parent_env.values())
    leaked = {k for k in runner.environ() if k.startswith("AIRLOCK_")}
    # No token, no config: its zone, its parent and its confinement (folders and limits) only.
    assert leaked <= {"AIRLOCK_ZONE", "AIRLOCK_PARENT_PID", "AIRLOCK_CONFINEMENT"}, leaked
