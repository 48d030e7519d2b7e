"""Children die with their parent, and what they started dies with the next one (issue 19, part
3): on ``airlock run-all``, a trigger and a callback each start a subprocess and wait; SIGKILL the
triggerer and the callback processor. Their runner and callback child die at once, with no
``BrokenPipeError`` traceback anywhere; the subprocesses, which no parent-death signal reaches,
are killed when run-all has restarted each service. The same holds for a task's subprocess when
the worker and its zygote are both SIGKILLed: the task process dies with the zygote, its
subprocess when the worker is back."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.processes import RunAll
from tests.support.waiting import alive, wait_until

pytestmark = pytest.mark.slow

DAG_FILE = """
import asyncio, subprocess, time
from datetime import datetime
from airlock.sdk import DAG, BaseOperator, BaseTrigger, TriggerEvent, task


class Lingering(BaseTrigger):
    def serialize(self):
        return f"{type(self).__module__}.Lingering", {}

    async def run(self):
        subprocess.Popen(["sleep", "3001"])
        await asyncio.sleep(3600)
        yield TriggerEvent({})


class Waits(BaseOperator):
    def execute(self, context):
        self.defer(trigger=Lingering(), method_name="execute_complete")

    def execute_complete(self, context, event=None):
        return event


def lingering_callback(context):
    subprocess.Popen(["sleep", "3002"])
    time.sleep(3600)


with DAG(dag_id="lingering", schedule=None, start_date=datetime(2026, 1, 1)):
    Waits(task_id="waits", retries=0)

    @task(on_success_callback=lingering_callback)
    def quick():
        return 1

    quick()

    @task
    def lingers():
        subprocess.Popen(["sleep", "3003"])
        time.sleep(3600)

    lingers()
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[RunAll]:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "lingering.py").write_text(textwrap.dedent(DAG_FILE))
    run_all = RunAll.start(tmp_path, dags, AIRLOCK_CALLBACK_PROCESSOR__TIMEOUT_S="600")
    try:
        yield run_all
    finally:
        run_all.stop()


def service(stack: RunAll, name: str) -> psutil.Process:
    """The stack's process running ``airlock <name>`` (the current incarnation)."""
    for process, command in stack.processes():
        if command[-1:] == [name]:
            return process
    raise AssertionError(f"run-all runs no {name}")


def sleeper(stack: RunAll, argument: str) -> int | None:
    """The stack's ``sleep <argument>`` (not another stack's, on a shared machine)."""
    for process, command in stack.processes():
        if command == ["sleep", argument]:
            return process.pid
    return None


def trigger(stack: RunAll, dag_id: str) -> None:
    with httpx.Client(base_url=stack.url, timeout=30) as web:
        login = web.post(
            "/api/v1/auth/token", json={"username": "admin", "password": stack.admin_password()}
        )
        web.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        assert wait_until(lambda: web.get(f"/api/v1/dags/{dag_id}").status_code == 200, 60)
        created = web.post(f"/api/v1/dags/{dag_id}/dagRuns", json={})
        assert created.status_code in (200, 201), created.text


def test_killed_services_leave_no_process_behind(stack: RunAll) -> None:
    trigger(stack, "lingering")
    arguments = ("3001", "3002", "3003")
    assert wait_until(lambda: all(sleeper(stack, a) is not None for a in arguments), 90), (
        stack.output()[-3000:]
    )
    started = {argument: sleeper(stack, argument) for argument in arguments}
    # The worker and its zygote die together: both are stopped first, so that neither sees the
    # other die (the zygote would kill its tasks' groups, the worker the dead zygote's).
    worker = service(stack, "worker")
    (zygote,) = worker.children()
    tasks = [task.pid for task in zygote.children()]
    for process in (worker, zygote):
        process.suspend()
    for process in (worker, zygote):
        process.kill()
    assert tasks, "the zygote ran the task"
    killed = {"worker": (worker.pid, [zygote.pid]), "zygote": (zygote.pid, tasks)}
    for name in ("triggerer", "callback-processor"):
        parent = service(stack, name)
        killed[name] = (parent.pid, [c.pid for c in parent.children()])
        assert killed[name][1], f"the {name} has a child"
        parent.kill()
    for name, (_, children) in killed.items():
        assert wait_until(lambda c=children: not any(alive(p) for p in c), 5), f"{name}'s children"
    # run-all restarts both; each kills what its predecessor's children left.
    for argument, pid in started.items():
        assert pid is not None
        assert wait_until(lambda p=pid: not alive(p), 30), f"sleep {argument} was left running"
    for name in ("triggerer", "callback-processor", "worker"):
        assert service(stack, name).pid != killed[name][0], f"{name} was restarted"
    time.sleep(1)  # anything a dying child would print has been printed
    output = stack.output()
    assert "BrokenPipeError" not in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
