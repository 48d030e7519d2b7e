"""`airlock worker` as a real process against a real `airlock api`.

DAG files are uploaded from a temporary bundle by `airlock dag-processor --once`; runs and task
instances are inserted directly in the DB in the state the scheduler leaves them (``queued``), each
test on a queue of its own, so these tests exercise the worker alone: tasks that crash, exit,
eat memory or hang are reported failed and the worker keeps serving; a task process holds no
token; the worker follows the server's orders, survives an API restart and takes its tasks along
when it is SIGKILLed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import select

from airlock.core.tokens import TokenKind
from airlock.db import Dag, DagRun, LogChunk, TaskInstance, XCom
from airlock.db.database import Database
from airlock.models.states import DagRunState, DagRunType, TaskInstanceState
from tests.support.processes import ApiServer, Home, free_port, start_api, stop
from tests.support.waiting import alive, wait_until

pytestmark = pytest.mark.slow

TERMINAL = {
    TaskInstanceState.SUCCESS,
    TaskInstanceState.FAILED,
    TaskInstanceState.UP_FOR_RETRY,
    TaskInstanceState.SKIPPED,
    TaskInstanceState.UP_FOR_RESCHEDULE,
}

DAG_FILE = """
import ctypes, json, os, subprocess, sys, time
from datetime import timedelta
from airlock.sdk import Variable, dag, task

@dag(schedule=None)
def {dag_id}():
    @task
    def hello():
        print("hello from the task")
        os.write(2, b"and from file descriptor 2\\n")
        return {{"answer": 42}}

    @task
    def segfault():
        ctypes.string_at(0)

    @task
    def exits():
        sys.exit(3)

    @task
    def hard_exit():
        os._exit(7)

    @task
    def hog():
        chunks = []
        while True:
            chunks.append(bytearray(16 * 2**20))

    @task(execution_timeout=timedelta(seconds=1))
    def hangs():
        time.sleep(120)

    @task
    def sleeper(ti=None):
        child = subprocess.Popen(["sleep", "300"])
        ti.xcom_push("pids", {{"task": os.getpid(), "child": child.pid}})
        time.sleep(300)

    @task
    def naps():
        time.sleep(3)
        return "rested"

    @task
    def inspect():
        found = {{}}
        try:
            entries = os.listdir("/proc")
        except OSError:  # Landlock: no other process's /proc entry at all
            entries = [str(os.getppid())]
        for entry in entries:
            if not entry.isdigit():
                continue
            for name in ("environ", "cmdline"):
                try:
                    text = open(f"/proc/{{entry}}/{{name}}", "rb").read().decode(errors="replace")
                except OSError:
                    continue
                if "eyJ" in text:
                    found[f"{{entry}}/{{name}}"] = text
        return {{
            "environ": dict(os.environ),
            "argv": sys.argv,
            "readable_jwts": found,
        }}

    @task
    def uses_the_api(ti=None):
        Variable.set("worker_test_key", "set by a task")
        seen = Variable.get("worker_test_key")
        Variable.delete("worker_test_key")
        ti.xcom_push("mine", {{"n": 5}})
        return {{
            "variable": seen,
            "after_delete": Variable.get("worker_test_key", default=None),
            "xcom": ti.xcom_pull(key="mine"),
        }}

    uses_the_api(); hello(); segfault(); exits(); hard_exit(); hog(); hangs(); sleeper(); naps(); inspect()

{dag_id}()
"""


@dataclass
class Rig:
    """A bundle uploaded to the API, a queue of its own, and workers started on it."""

    home: Home
    api_url: str
    folder: Path
    bundle: str
    dag_id: str
    queue: str
    db: Database
    workers: list[subprocess.Popen[str]] = field(default_factory=list)
    runs: int = 0

    def upload(self) -> None:
        token = self.home.token(
            TokenKind.SERVICE, "dag-processor", role="dag-processor", bundles=[self.bundle]
        )
        env = {
            **self.home.zone_env("processing"),
            "AIRLOCK_DAG_PROCESSOR__API_URL": self.api_url,
            "AIRLOCK_DAG_PROCESSOR__TOKEN": token,
            "AIRLOCK_DAG_PROCESSOR__BUNDLES": f"{self.bundle}={self.folder}",
        }
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "airlock.cli",
                "dag-processor",
                "--bundle",
                self.bundle,
                "--once",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "1 new DAG version(s), 0 import error(s)" in result.stdout, result.stdout

    def queue_tasks(self, *task_ids: str, max_tries: int = 0) -> list[str]:
        """A new run of the DAG with ``task_ids`` queued; their task instance ids."""
        self.runs += 1
        run_id = f"manual__{self.runs}"
        with self.db.sessions() as session:
            version = session.scalar(select(Dag.latest_version_id).where(Dag.dag_id == self.dag_id))
            assert version is not None
            now = dt.datetime.now(dt.UTC)
            session.add(
                DagRun(
                    dag_id=self.dag_id,
                    run_id=run_id,
                    dag_version_id=version,
                    run_after=now,
                    logical_date=now,
                    run_type=DagRunType.MANUAL,
                    state=DagRunState.RUNNING,
                    start_date=now,
                )
            )
            rows = [
                TaskInstance(
                    dag_id=self.dag_id,
                    run_id=run_id,
                    task_id=task_id,
                    state=TaskInstanceState.QUEUED,
                    queue=self.queue,
                    max_tries=max_tries,
                    dag_version_id=version,
                    queued_at=now,
                )
                for task_id in task_ids
            ]
            session.add_all(rows)
            session.commit()
            return [row.id for row in rows]

    def start_worker(
        self, *args: str, token: str | None = None, **env: str
    ) -> subprocess.Popen[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
        environ.update(
            {
                "AIRLOCK_HOME": str(self.home.path / "worker-home"),
                "AIRLOCK_ZONE": "execution",
                "AIRLOCK_WORKER__API_URL": self.api_url,
                "AIRLOCK_WORKER__TOKEN": token or self.home.token(TokenKind.WORKER, "test-worker"),
                "AIRLOCK_WORKER__BUNDLES": f"{self.bundle}={self.folder}",
                "AIRLOCK_WORKER__HEARTBEAT_S": "0.5",
                "AIRLOCK_WORKER__LOG_BATCH_S": "0.2",
                **env,
            }
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "airlock.cli", "worker", "--queues", self.queue, *args],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.workers.append(process)
        return process

    def ti(self, ti_id: str) -> TaskInstance:
        with self.db.sessions() as session:
            return session.get_one(TaskInstance, ti_id)

    def wait_for(
        self, ti_ids: list[str], states: Callable[[TaskInstanceState | None], bool], timeout: float
    ) -> dict[str, TaskInstanceState | None]:
        deadline = time.monotonic() + timeout
        while True:
            with self.db.sessions() as session:
                found = dict(
                    session.execute(
                        select(TaskInstance.id, TaskInstance.state).where(
                            TaskInstance.id.in_(ti_ids)
                        )
                    ).all()
                )
            if all(states(found[i]) for i in ti_ids) or time.monotonic() > deadline:
                return {self.ti(i).task_id: found[i] for i in ti_ids}
            time.sleep(0.1)

    def wait_done(self, ti_ids: list[str], timeout: float = 60) -> dict[str, Any]:
        return self.wait_for(ti_ids, lambda s: s in TERMINAL, timeout)

    def logs(self, ti_id: str) -> str:
        with self.db.sessions() as session:
            chunks = session.scalars(
                select(LogChunk.lines)
                .where(LogChunk.task_instance_id == ti_id)
                .order_by(LogChunk.try_number, LogChunk.seq)
            ).all()
        return "\n".join(chunks)

    def xcom(self, ti_id: str, key: str = "return_value") -> Any:
        ti = self.ti(ti_id)
        with self.db.sessions() as session:
            value = session.scalar(
                select(XCom.value).where(
                    XCom.dag_id == ti.dag_id,
                    XCom.run_id == ti.run_id,
                    XCom.task_id == ti.task_id,
                    XCom.key == key,
                )
            )
        return None if value is None else msgspec.json.decode(value)

    def stop_workers(self) -> str:
        output = []
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                out, _ = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                out, _ = process.communicate()
            output.append(out or "")
        self.workers.clear()
        return "".join(output)


def make_rig(home: Home, api_url: str, tmp_path: Path) -> Rig:
    name = uuid.uuid4().hex[:8]
    folder = tmp_path / "bundle"
    folder.mkdir()
    dag_id = f"worker_{name}"
    (folder / f"{dag_id}.py").write_text(textwrap.dedent(DAG_FILE.format(dag_id=dag_id)))
    rig = Rig(
        home=home,
        api_url=api_url,
        folder=folder,
        bundle=f"b{name}",
        dag_id=dag_id,
        queue=f"q{name}",
        db=Database(home.db_url),
    )
    rig.upload()
    return rig


@pytest.fixture
def rig(home: Home, api: ApiServer, tmp_path: Path) -> Iterator[Rig]:
    rig = make_rig(home, api.url, tmp_path)
    yield rig
    rig.stop_workers()
    rig.db.close()


# --- tests ------------------------------------------------------------------------------------


def test_a_task_runs_and_its_result_and_output_reach_the_api(rig: Rig) -> None:
    rig.start_worker()
    (ti_id,) = rig.queue_tasks("hello")
    assert rig.wait_done([ti_id]) == {"hello": TaskInstanceState.SUCCESS}
    assert rig.xcom(ti_id) == {"answer": 42}
    logs = rig.logs(ti_id)
    assert "hello from the task" in logs
    assert "and from file descriptor 2" in logs
    ti = rig.ti(ti_id)
    assert ti.try_number == 1
    assert ti.pid is not None
    assert ti.pid != rig.workers[0].pid, "it ran in its own process"


def test_a_task_reaches_variables_and_xcoms_through_its_supervisor(rig: Rig) -> None:
    rig.start_worker()
    (ti_id,) = rig.queue_tasks("uses_the_api")
    assert rig.wait_done([ti_id]) == {"uses_the_api": TaskInstanceState.SUCCESS}, rig.logs(ti_id)
    assert rig.xcom(ti_id) == {
        "variable": "set by a task",
        "after_delete": None,
        "xcom": {"n": 5},
    }


def test_tasks_that_crash_exit_eat_memory_or_hang_fail_and_the_worker_keeps_serving(
    rig: Rig,
) -> None:
    worker = rig.start_worker("--concurrency", "8", "--task-memory-mb", "300")
    bad = rig.queue_tasks("segfault", "exits", "hard_exit", "hog", "hangs")
    failed = TaskInstanceState.FAILED
    assert rig.wait_done(bad, timeout=90) == dict.fromkeys(
        ("segfault", "exits", "hard_exit", "hog", "hangs"), failed
    )
    by_task = {rig.ti(i).task_id: rig.logs(i) for i in bad}
    assert "was killed by SIGSEGV" in by_task["segfault"]
    assert "sys.exit(3)" in by_task["exits"]
    assert "exited with code 7" in by_task["hard_exit"]
    assert "over the worker's limit of 300 MiB" in by_task["hog"]
    assert "ran past its execution_timeout of 1 s" in by_task["hangs"]
    assert worker.poll() is None, "the worker survived all of them"
    (retried,) = rig.queue_tasks("segfault", max_tries=1)
    (good,) = rig.queue_tasks("hello")
    assert rig.wait_done([retried, good]) == {
        "segfault": TaskInstanceState.UP_FOR_RETRY,
        "hello": TaskInstanceState.SUCCESS,
    }


def test_a_task_process_holds_no_token(rig: Rig) -> None:
    token = rig.home.token(TokenKind.WORKER, "test-worker")
    rig.start_worker(token=token)
    (ti_id,) = rig.queue_tasks("inspect")
    assert rig.wait_done([ti_id]) == {"inspect": TaskInstanceState.SUCCESS}
    seen = rig.xcom(ti_id)
    dump = json.dumps(seen)
    assert token not in dump
    assert "eyJ" not in json.dumps([seen["environ"], seen["argv"]]), "no JWT of any kind"
    assert [k for k in seen["environ"] if k.startswith("AIRLOCK_")] == ["AIRLOCK_ZONE"]
    assert seen["environ"]["AIRLOCK_ZONE"] == "execution"
    assert seen["readable_jwts"] == {}, (
        "no process whose environment or command line the task can read holds a token "
        "(the worker's own environment is unreadable: it is not dumpable)"
    )


def test_a_task_the_server_stops_is_killed(rig: Rig, tmp_path: Path) -> None:
    rig.start_worker()
    (ti_id,) = rig.queue_tasks("naps")
    rig.wait_for([ti_id], lambda s: s is TaskInstanceState.RUNNING, 30)
    # The hand-out started it under the worker's pid; the first heartbeat names its process.
    worker_pid = rig.workers[0].pid
    assert wait_until(lambda: rig.ti(ti_id).pid not in (None, worker_pid), 10)
    pid = rig.ti(ti_id).pid
    assert pid is not None
    with rig.db.sessions() as session:
        session.get_one(TaskInstance, ti_id).state = TaskInstanceState.FAILED
        session.commit()
    assert wait_until(lambda: not alive(pid), 5), "killed on the next heartbeat"
    time.sleep(3)
    assert rig.ti(ti_id).state is TaskInstanceState.FAILED
    assert "the server says this task must stop" in rig.logs(ti_id)


def test_sigkill_of_the_worker_takes_its_tasks_along(rig: Rig) -> None:
    worker = rig.start_worker()
    (ti_id,) = rig.queue_tasks("sleeper")
    assert wait_until(lambda: rig.xcom(ti_id, "pids") is not None, 30)
    pids = rig.xcom(ti_id, "pids")
    assert rig.ti(ti_id).state is TaskInstanceState.RUNNING
    zygote = int(Path(f"/proc/{pids['task']}/stat").read_text().rsplit(")", 1)[1].split()[1])
    worker.kill()
    worker.wait()
    assert wait_until(lambda: not alive(pids["task"])), "the task process died with its worker"
    assert wait_until(lambda: not alive(pids["child"])), "and so did what the task started"
    assert wait_until(lambda: not alive(zygote)), "and the zygote"
    # No scheduler here: the task stays `running` until one finds its heartbeat stopped.
    assert rig.ti(ti_id).state is TaskInstanceState.RUNNING


def test_the_worker_carries_on_after_the_api_restarts(home: Home, tmp_path: Path) -> None:
    port = free_port()
    server = start_api(home, "execution,web,internal", port=port)
    rig = make_rig(home, server.url, tmp_path)
    try:
        worker = rig.start_worker()
        (first,) = rig.queue_tasks("hello")
        assert rig.wait_done([first]) == {"hello": TaskInstanceState.SUCCESS}
        (napping,) = rig.queue_tasks("naps")
        rig.wait_for([napping], lambda s: s is TaskInstanceState.RUNNING, 30)
        # Confirmed: the worker has it (no scheduler here queues a lost hand-out again).
        assert wait_until(lambda: rig.ti(napping).claimed_by is None, 30)
        server.process.kill()
        server.process.wait()
        (while_down,) = rig.queue_tasks("hello")
        time.sleep(2)
        server = start_api(home, "execution,web,internal", port=port)
        assert rig.wait_done([napping, while_down], timeout=60) == {
            "naps": TaskInstanceState.SUCCESS,
            "hello": TaskInstanceState.SUCCESS,
        }
        assert rig.xcom(napping) == "rested", "its outcome was reported once the API was back"
        assert worker.poll() is None
    finally:
        rig.stop_workers()
        stop(server)
        rig.db.close()


def test_a_refused_worker_token_stops_the_worker_with_a_clear_error(rig: Rig) -> None:
    worker = rig.start_worker(token="not-a-token")
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 2
    assert "refused the worker token" in out
    assert "airlock tokens issue --kind worker" in out


def test_a_task_of_an_unknown_bundle_fails_and_says_which(rig: Rig) -> None:
    rig.start_worker(AIRLOCK_WORKER__BUNDLES=f"other={rig.folder}")
    (ti_id,) = rig.queue_tasks("hello")
    assert rig.wait_done([ti_id]) == {"hello": TaskInstanceState.FAILED}
    assert f"bundle {rig.bundle!r} is not configured on worker" in rig.logs(ti_id)


def test_tasks_started_for_a_worker_that_is_stopping_are_reported_failed(rig: Rig) -> None:
    """A poll's reply may bring tasks the hand-out started just as the worker stops: the worker
    reports them failed (retried when tries remain) rather than leaving them running with no
    process until their heartbeat times out."""
    from airlock.models.execution import WorkloadRequest
    from airlock.worker.supervisor import Worker

    (ti_id,) = rig.queue_tasks("hello", max_tries=1)
    token = rig.home.token(TokenKind.WORKER, "test-worker")
    worker = Worker(api_url=rig.api_url, token=token, queues=[rig.queue])
    try:
        request = WorkloadRequest(
            worker=worker.name, queues=[rig.queue], start=1, hostname="h", pid=os.getpid()
        )
        batch = worker.client(token).next_workloads(request)
        assert [w.ti.id for w in batch.workloads] == [ti_id]
        assert rig.ti(ti_id).state is TaskInstanceState.RUNNING
        worker._fail_unstarted(batch.workloads)
    finally:
        worker.zygote.close()
    assert rig.ti(ti_id).state is TaskInstanceState.UP_FOR_RETRY
    assert "the worker stopped before it could start the task" in rig.logs(ti_id)
