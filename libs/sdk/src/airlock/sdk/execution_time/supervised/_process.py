"""Starting, timing out, killing and reaping a supervised child process.

:func:`start_child` starts a Python child in its own session — so killing its process group
also kills whatever it started — with :data:`~._sandbox.PARENT_PID_VARIABLE` set, so that the
child's :func:`~._sandbox.enter_sandbox` can tie its life to its parent's.

``PR_SET_PDEATHSIG`` fires when the *thread* that forked the child ends, not the process: a child
started from a short-lived thread (a task thread, a pool thread) would be killed when that thread
returns. So every child is forked by one spawner thread that lives as long as the process.

A parent that tracks its children (:func:`~._leftovers.track_children`) records each one it starts
and forgets it once closed, so that the next parent kills what a killed one left behind.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from airlock.sdk.execution_time.supervised._confine import (
    CONFINEMENT_VARIABLE,
    Confinement,
    encode_confinement,
)
from airlock.sdk.execution_time.supervised._leftovers import registry
from airlock.sdk.execution_time.supervised._sandbox import PARENT_PID_VARIABLE, _prctl

_PR_SET_CHILD_SUBREAPER = 36


def kill_process_group(pid: int) -> None:
    """SIGKILL the process ``pid`` and the process group it leads (what it started)."""
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(OSError):
            kill(pid, signal.SIGKILL)


def adopt_orphans() -> None:
    """Become the subreaper of what this process starts: a grandchild whose parent exits (a
    daemon that double-forks, a ``setsid``) becomes this process's child, so
    :func:`kill_descendants` still finds it."""
    _prctl()(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def kill_descendants(rounds: int = 64) -> int:
    """In a child: SIGKILL and reap every process it started, and what those started; how many."""
    killed = 0
    for _ in range(rounds):
        pids = _children()
        if not pids:
            break
        for pid in pids:
            kill_process_group(pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            killed += 1
    return killed


def _children() -> list[int]:
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{os.getpid()}/task"):
            with open(f"/proc/{os.getpid()}/task/{task}/children", "rb") as f:
                pids.extend(int(p) for p in f.read().split())
    return pids


class Child:
    """A started child process: the leader of its own process group, killed as a group."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.pid = process.pid

    @property
    def stdin(self) -> IO[bytes] | None:
        return self.process.stdin

    @property
    def stdout(self) -> IO[bytes] | None:
        return self.process.stdout

    def poll(self) -> int | None:
        """Its return code (negative: killed by that signal) once it ended, else ``None``."""
        return self.process.poll()

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Its return code, or ``None`` if it still runs after ``timeout_s``."""
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def wait_or_kill(self, timeout_s: float) -> int:
        """Its return code; a child still running after ``timeout_s`` is killed with its group."""
        code = self.wait(timeout_s)
        if code is None:
            self.kill()
            code = self.process.wait()
        return code

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL the child and everything in its process group."""
        kill_process_group(self.pid)

    def close(self) -> None:
        """Kill it (if it still runs), reap it and close its pipes."""
        if self.process.poll() is None:
            self.kill()
        self.process.wait()
        # Its group may outlive it: what it started is killed too, now that it is gone.
        kill_process_group(self.pid)
        if (children := registry()) is not None:
            children.remove(self.pid)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def start_child(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | Path | None = None,
    pass_fds: Sequence[int] = (),
    stdin: int | None = subprocess.DEVNULL,
    stdout: int | None = None,
    confinement: Confinement | None = None,
) -> Child:
    """Start ``argv`` in its own session, from the spawner thread (see the module docstring).

    ``stdin``/``stdout`` take ``subprocess.PIPE`` for a pipe channel (unbuffered, so a selector
    sees every byte), ``None`` to inherit. The child applies ``confinement`` when it enters its
    sandbox. It inherits no descriptor but its standard streams and ``pass_fds``.
    """
    child_env = {**env, PARENT_PID_VARIABLE: str(os.getpid())}
    if confinement is not None:
        child_env[CONFINEMENT_VARIABLE] = encode_confinement(confinement)
    process = _spawner().run(
        lambda: subprocess.Popen(
            list(argv),
            env=child_env,
            cwd=cwd,
            pass_fds=list(pass_fds),
            stdin=stdin,
            stdout=stdout,
            start_new_session=True,
            bufsize=0,
        )
    )
    if (children := registry()) is not None:
        children.add(process.pid)
    return Child(process)


class _Job:
    def __init__(self, call: Callable[[], Any]) -> None:
        self.call = call
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class _Spawner:
    """The one thread that forks every child of this process."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self.pid = os.getpid()
        threading.Thread(target=self._serve, name="airlock-child-spawner", daemon=True).start()

    def run(self, call: Callable[[], Any]) -> Any:
        job = _Job(call)
        self._jobs.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job.result = job.call()
            except BaseException as exc:
                job.error = exc
            job.done.set()


_spawner_lock = threading.Lock()
_spawners: list[_Spawner] = []


def _spawner() -> _Spawner:
    with _spawner_lock:
        # A forked copy of this process has no spawner thread: it starts its own.
        if not _spawners or _spawners[-1].pid != os.getpid():
            _spawners[:] = [_Spawner()]
        return _spawners[-1]
