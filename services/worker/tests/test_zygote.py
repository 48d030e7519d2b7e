"""The zygote with real processes: what a forked task process inherits and what it does not, how
its end is reported, and that a dead or stuck zygote is replaced."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airlock.models.execution import TaskFailed, TaskSucceeded
from airlock.sdk.execution_time.protocol import (
    Ack,
    PushXCom,
    RunTask,
    StartTask,
    TaskDone,
    encode_frame,
    from_task_decoder,
    read_frame,
)
from airlock.worker.zygote_client import TaskProcess, ZygoteClient
from tests.support.waiting import alive, wait_until

pytestmark = pytest.mark.slow

PROBE = """
import json, os, subprocess, sys
from airlock.sdk import dag, task

@dag(schedule=None)
def probe():
    @task
    def inspect():
        print("from print")
        os.write(1, b"from fd 1\\n")
        os.write(2, b"from fd 2\\n")
        subprocess.run(["sh", "-c", "echo from a subprocess"], check=True)
        try:
            import airlock.db  # noqa: F401
            blocked = False
        except ImportError:
            blocked = True
        return {
            "environ": dict(os.environ),
            "argv": sys.argv,
            "cmdline": open("/proc/self/cmdline", "rb").read().decode(errors="replace"),
            "own_session": os.getsid(0) == os.getpid(),
            "oom_score_adj": open("/proc/self/oom_score_adj").read().strip(),
            "db_import_blocked": blocked,
        }

    @task
    def crash():
        import ctypes
        ctypes.string_at(0)

    @task
    def hard_exit():
        os._exit(7)

    @task
    def sleep():
        import time
        print("sleeping", flush=True)
        time.sleep(60)

    inspect(); crash(); hard_exit(); sleep()

probe()
"""


@pytest.fixture
def zygote() -> Iterator[ZygoteClient]:
    client = ZygoteClient(
        environ={**os.environ, "AIRLOCK_WORKER__TOKEN": "secret-worker-token", "KEEP_ME": "1"}
    )
    client.start()
    yield client
    client.close()


@pytest.fixture
def probe(write_dag: Callable[[str, str], Path]) -> Path:
    return write_dag("probe.py", PROBE)


class Task:
    """One forked task process and the test's end of its channel and output."""

    def __init__(self, zygote: ZygoteClient, start: StartTask, dag_file: Path | None) -> None:
        self.sock, theirs = socket.socketpair()
        self.output_r, output_w = os.pipe()
        self.process: TaskProcess = zygote.fork(
            theirs,
            output_w,
            dag_file=str(dag_file) if dag_file else None,
            bundle_root=start.bundle_root,
        )
        theirs.close()
        os.close(output_w)
        self.reader = self.sock.makefile("rb")
        self.sock.sendall(encode_frame(start))
        self.start = start

    def run(self, make_context: Callable[..., Any]) -> Any:
        """Let it run; acknowledge its XCom pushes; return its TaskDone (or None if it died)."""
        self.receive()  # Hello
        self.sock.sendall(encode_frame(RunTask(context=make_context(self.start))))
        while True:
            message = self.receive()
            if message is None or isinstance(message, TaskDone):
                return message
            assert isinstance(message, PushXCom)
            self.pushed = message.value
            self.sock.sendall(encode_frame(Ack()))

    def receive(self) -> Any:
        try:
            return from_task_decoder.decode(read_frame(self.reader))
        except EOFError:
            return None

    def output(self) -> str:
        chunks = []
        while select.select([self.output_r], [], [], 2)[0]:
            chunk = os.read(self.output_r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode()


def test_a_task_process_holds_no_token_and_its_output_is_captured(
    zygote: ZygoteClient, probe: Path, make_start: Any, make_context: Any
) -> None:
    task = Task(zygote, make_start("probe.py", "probe", "inspect"), probe)
    done = task.run(make_context)
    assert isinstance(done.outcome, TaskSucceeded)
    seen = task.pushed
    dump = json.dumps(seen)
    assert "secret-worker-token" not in dump
    assert [k for k in seen["environ"] if k.startswith("AIRLOCK_")] == ["AIRLOCK_ZONE"]
    assert seen["environ"]["KEEP_ME"] == "1", "the rest of the worker's environment is kept"
    assert seen["argv"][0].endswith("zygote.py")
    assert seen["argv"][1:] == [seen["argv"][1]]
    assert seen["argv"][1].isdigit(), "the zygote's only argument: its channel's descriptor"
    assert "secret" not in seen["cmdline"]
    assert seen["own_session"]
    assert seen["oom_score_adj"] == "1000"
    assert seen["db_import_blocked"]
    output = task.output()
    for line in ("from print", "from fd 1", "from fd 2", "from a subprocess"):
        assert line in output
    assert zygote.wait_exit(task.process, 5) == 0


def test_each_task_runs_in_its_own_process_from_one_zygote(
    zygote: ZygoteClient, probe: Path, make_start: Any, make_context: Any
) -> None:
    pids = set()
    for _ in range(3):
        task = Task(zygote, make_start("probe.py", "probe", "inspect"), probe)
        assert isinstance(task.run(make_context).outcome, TaskSucceeded)
        pids.add(task.process.pid)
        assert zygote.wait_exit(task.process, 5) == 0
    assert len(pids) == 3
    assert zygote.restarts == 0


@pytest.mark.parametrize(("task_id", "returncode"), [("crash", -signal.SIGSEGV), ("hard_exit", 7)])
def test_how_a_process_ended_is_reported(
    zygote: ZygoteClient,
    probe: Path,
    make_start: Any,
    make_context: Any,
    task_id: str,
    returncode: int,
) -> None:
    task = Task(zygote, make_start("probe.py", "probe", task_id), probe)
    assert task.run(make_context) is None, "it died before sending an outcome"
    assert zygote.wait_exit(task.process, 5) == returncode


def test_closing_the_zygote_kills_running_tasks(
    probe: Path, make_start: Any, make_context: Any
) -> None:
    zygote = ZygoteClient()
    zygote.start()
    task = Task(zygote, make_start("probe.py", "probe", "sleep"), probe)
    task.receive()
    task.sock.sendall(encode_frame(RunTask(context=make_context(task.start))))
    assert "sleeping" in os.read(task.output_r, 100).decode()
    zygote.close()
    assert wait_until(lambda: not alive(task.process.pid))


def test_a_dead_zygote_takes_its_tasks_along_and_is_replaced(
    zygote: ZygoteClient, probe: Path, make_start: Any, make_context: Any
) -> None:
    sleeper = Task(zygote, make_start("probe.py", "probe", "sleep"), probe)
    old_zygote = zygote.pid
    assert old_zygote is not None
    os.kill(old_zygote, signal.SIGKILL)
    assert wait_until(lambda: not alive(sleeper.process.pid)), "PR_SET_PDEATHSIG"
    assert zygote.wait_exit(sleeper.process, 5) is None
    task = Task(zygote, make_start("probe.py", "probe", "inspect"), probe)
    assert isinstance(task.run(make_context).outcome, TaskSucceeded)
    assert zygote.pid != old_zygote
    assert zygote.restarts == 1


def test_a_dag_file_that_kills_the_zygote_is_not_preloaded_again(
    zygote: ZygoteClient,
    write_dag: Callable[[str, str], Path],
    make_start: Any,
    make_context: Any,
) -> None:
    path = write_dag(
        "deadly.py",
        """
        import os
        from airlock.sdk import dag, task

        @dag(schedule=None)
        def deadly():
            @task
            def t():
                return "ran"
            t()

        deadly()
        # The zygote has no comms installed; a task process does.
        from airlock.sdk.execution_time import comms
        if comms._comms is None:
            os._exit(9)
        """,
    )
    first = Task(zygote, make_start("deadly.py", "deadly", "t"), path)
    done = first.run(make_context)
    assert isinstance(done.outcome, TaskSucceeded)
    assert first.pushed == "ran"
    assert zygote.restarts == 1
    second = Task(zygote, make_start("deadly.py", "deadly", "t"), path)
    assert isinstance(second.run(make_context).outcome, TaskSucceeded)
    assert zygote.restarts == 1


def test_a_task_that_cannot_load_its_dag_fails_with_the_import_error_in_its_log(
    zygote: ZygoteClient,
    write_dag: Callable[[str, str], Path],
    make_start: Any,
    make_context: Any,
) -> None:
    path = write_dag("broken.py", "import does_not_exist\n")
    task = Task(zygote, make_start("broken.py", "broken", "t"), path)
    done = task.run(make_context)
    assert isinstance(done.outcome, TaskFailed)
    assert "does_not_exist" in (done.outcome.error or "")
    assert "Traceback" in task.output()


SUPERVISOR = """
import os, socket, sys
from airlock.worker.zygote_client import ZygoteClient

zygote = ZygoteClient()
zygote.start()
ours, theirs = socket.socketpair()
read_end, write_end = os.pipe()
waiting = zygote.fork(theirs, write_end)  # a task process waiting for its StartTask
print(zygote.pid, waiting.pid, flush=True)
# The zygote now imports a DAG file that never finishes: it reads no channel while it does.
zygote.fork(theirs, write_end, dag_file=sys.argv[1], bundle_root=sys.argv[2])
"""


def test_no_zygote_or_task_outlives_a_supervisor_killed_while_the_zygote_is_busy(
    write_dag: Callable[[str, str], Path], bundle: Path, tmp_path: Path
) -> None:
    started = tmp_path / "import-started"
    hangs = write_dag(
        "hangs.py",
        f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(60)\n",
    )
    script = tmp_path / "supervisor.py"
    script.write_text(SUPERVISOR)
    supervisor = subprocess.Popen(
        [sys.executable, str(script), str(hangs), str(bundle)], stdout=subprocess.PIPE
    )
    try:
        assert supervisor.stdout is not None
        zygote_pid, task_pid = map(int, supervisor.stdout.readline().split())
        assert wait_until(started.exists, 30)
        supervisor.kill()
        supervisor.wait()
        assert wait_until(lambda: not alive(zygote_pid), 5), "the zygote died with its supervisor"
        assert wait_until(lambda: not alive(task_pid), 5), "and so did its task process"
    finally:
        supervisor.kill()
        supervisor.wait()
