"""Callbacks through the whole stack (`airlock run-all`, SQLite and PostgreSQL): each kind fires
exactly once per event in the callback processor; a task whose worker is SIGKILLed mid-task
still gets its failure callback; a person marking a run failed fires the same callbacks.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.support.processes import RunAll

pytestmark = pytest.mark.slow

DAG_FILE = """
import json, tempfile, time
from datetime import timedelta
from pathlib import Path
from airlock.sdk import DAG, task
from airlock.sdk.exceptions import AirlockSkipException

# Callbacks may write only to their temp folder ([callback_processor] temp_folder).
FIRED = Path(tempfile.gettempdir()) / "fired.jsonl"


def rec(context):
    line = {
        "kind": context["callback_kind"],
        "task_id": context["task_id"],
        "run_id": context["run_id"],
        "key": context["idempotency_key"],
    }
    with FIRED.open("a") as f:
        f.write(json.dumps(line) + "\\n")


with DAG("cb_flow", schedule=None, on_success_callback=rec, on_failure_callback=rec):

    @task(on_execute_callback=rec, on_success_callback=rec)
    def ok():
        return 1

    @task(
        retries=1,
        retry_delay=timedelta(seconds=0),
        on_retry_callback=rec,
        on_failure_callback=rec,
        on_success_callback=rec,
    )
    def flaky(ti=None):
        if ti.try_number == 1:
            raise RuntimeError("the first try fails")

    @task(on_skipped_callback=rec)
    def skipper():
        raise AirlockSkipException("skipped on purpose")

    @task(retries=0, on_failure_callback=rec)
    def doomed():
        raise RuntimeError("always fails")

    ok()
    flaky()
    skipper()
    doomed()


with DAG("cb_slow", schedule=None, on_success_callback=rec, on_failure_callback=rec):

    @task(retries=0, on_failure_callback=rec, on_success_callback=rec)
    def sleeper():
        time.sleep(300)

    sleeper()
"""


class Stack(RunAll):
    token: str = ""

    def api(self, method: str, path: str, **options: Any) -> Any:
        response = httpx.request(
            method,
            f"{self.url}/api/v1{path}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            **options,
        )
        assert response.status_code < 300, response.text
        return response.json()

    def trigger(self, dag_id: str) -> str:
        deadline = time.monotonic() + 90
        while True:
            response = httpx.post(
                f"{self.url}/api/v1/dags/{dag_id}/dagRuns",
                headers={"Authorization": f"Bearer {self.token}"},
                json={},
                timeout=30,
            )
            if response.status_code < 300:
                return str(response.json()["run_id"])
            assert time.monotonic() < deadline, response.text
            time.sleep(0.5)  # the DAG processor has not uploaded the file yet

    def wait_run(self, dag_id: str, run_id: str, states: set[str], timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while True:
            state = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in states:
                return str(state)
            assert time.monotonic() < deadline, f"run {run_id} still {state}\n{self.output()}"
            time.sleep(0.3)

    def wait_task_running(self, dag_id: str, run_id: str, task_id: str) -> None:
        deadline = time.monotonic() + 90
        while True:
            page = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
            states = {ti["task_id"]: ti["state"] for ti in page["task_instances"]}
            if states.get(task_id) == "running":
                return
            assert time.monotonic() < deadline, f"{task_id} never ran: {states}"
            time.sleep(0.3)

    def worker(self) -> psutil.Process:
        for child, command in self.processes(recursive=False):
            if "worker" in command:
                return child
        raise AssertionError("run-all has no worker")


def fired(folder: Path) -> list[dict[str, Any]]:
    path = folder.parent / "callback-out" / "fired.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def wait_fired(folder: Path, run_id: str, expected: Counter[tuple[str, str | None]]) -> None:
    deadline = time.monotonic() + 60
    while True:
        seen = Counter((f["kind"], f["task_id"]) for f in fired(folder) if f["run_id"] == run_id)
        if seen == expected:
            return
        assert time.monotonic() < deadline, f"run {run_id}: fired {seen}, expected {expected}"
        time.sleep(0.3)


def test_callbacks_fire_once_per_event(tmp_path: Path, db_url: str) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "callbacks.py").write_text(textwrap.dedent(DAG_FILE))
    settings = {
        "AIRLOCK_SCHEDULER__TASK_HEARTBEAT_TIMEOUT_S": "6",
        "AIRLOCK_WORKER__HEARTBEAT_S": "1",
        "AIRLOCK_CALLBACK_PROCESSOR__POLL_INTERVAL_S": "0.2",
        "AIRLOCK_CALLBACK_PROCESSOR__TEMP_FOLDER": str(tmp_path / "callback-out"),
    }
    (tmp_path / "callback-out").mkdir()
    if not db_url.startswith("sqlite"):
        settings["AIRLOCK_DATABASE__URL"] = db_url
    stack = Stack.start(tmp_path, dags, **settings)
    try:
        login = httpx.post(
            f"{stack.url}/api/v1/auth/token",
            json={"username": "admin", "password": stack.admin_password()},
        )
        stack.token = login.json()["access_token"]

        run = stack.trigger("cb_flow")
        assert stack.wait_run("cb_flow", run, {"success", "failed"}) == "failed"
        wait_fired(
            dags,
            run,
            Counter(
                {
                    ("task_execute", "ok"): 1,
                    ("task_success", "ok"): 1,
                    ("task_retry", "flaky"): 1,
                    ("task_success", "flaky"): 1,
                    ("task_skipped", "skipper"): 1,
                    ("task_failure", "doomed"): 1,
                    ("dag_failure", None): 1,
                }
            ),
        )
        callbacks = stack.api("GET", f"/dags/cb_flow/dagRuns/{run}/callbacks")["callbacks"]
        assert {c["state"] for c in callbacks} == {"success"}
        assert len(callbacks) == 7

        # A worker SIGKILLed mid-task: the heartbeat check fails the task, and its failure
        # callback (and the run's) still fire.
        killed = stack.trigger("cb_slow")
        stack.wait_task_running("cb_slow", killed, "sleeper")
        stack.worker().kill()
        assert stack.wait_run("cb_slow", killed, {"success", "failed"}, timeout=90) == "failed"
        wait_fired(
            dags, killed, Counter({("task_failure", "sleeper"): 1, ("dag_failure", None): 1})
        )

        # A person marks a run failed: the same callbacks as any failure.
        marked = stack.trigger("cb_slow")
        stack.wait_task_running("cb_slow", marked, "sleeper")
        stack.api("PATCH", f"/dags/cb_slow/dagRuns/{marked}", json={"state": "failed"})
        wait_fired(
            dags, marked, Counter({("task_failure", "sleeper"): 1, ("dag_failure", None): 1})
        )
        time.sleep(3)  # nothing more arrives for any of the runs
        keys = [f["key"] for f in fired(dags)]
        assert len(keys) == len(set(keys)) == 11
    finally:
        stack.stop()
