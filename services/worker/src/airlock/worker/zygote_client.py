"""The supervisor's handle on its zygote: start it, ask it for task processes, replace it.

See :mod:`airlock.worker.zygote` for why the zygote exists and what it speaks. Many task threads
ask for forks at once; one reader thread takes the zygote's answers and routes each to the thread
waiting for it, and keeps the exit status of every task process the zygote reaps.

A zygote that dies (the kernel's OOM killer, a DAG file that crashed it while being preloaded)
or hangs (a DAG file whose import never ends) is replaced at the next fork; the DAG file it was
preloading is not preloaded again, its task processes import it themselves.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from airlock.sdk.execution_time.supervised import (
    HEADER_SIZE,
    Child,
    Confinement,
    FrameError,
    child_environment,
    decode_message,
    encode_frame,
    forget_child,
    frame_payload,
    kill_process_group,
    prepare_folder,
    record_child,
    start_child,
)
from airlock.worker.zygote import (
    MAX_RECORD,
    Exited,
    Fork,
    Forked,
    ForkFailed,
    FromZygote,
    Ready,
    from_zygote_decoder,
)

log = logging.getLogger("airlock.worker")


class ZygoteUnavailable(RuntimeError):
    """No task process could be made: the zygote did not start, died or hung."""


@dataclass
class _Pending:
    dag_file: str | None
    done: threading.Event = field(default_factory=threading.Event)
    pid: int | None = None
    pidfd: int | None = None
    error: str | None = None


class _Generation:
    """One zygote process and what is in flight with it."""

    def __init__(self, child: Child, sock: socket.socket) -> None:
        self.child = child
        self.sock = sock
        self.send_lock = threading.Lock()
        self.cond = threading.Condition()
        self.pending: dict[int, _Pending] = {}
        self.exits: dict[int, int] = {}
        #: Its task processes not reaped yet, each leading its own session.
        self.tasks: set[int] = set()
        self.dead = False

    def kill(self) -> None:
        self.child.kill()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


@dataclass
class TaskProcess:
    """A task process the zygote forked; ``pidfd`` refers to it and to no later reuse of ``pid``."""

    pid: int
    pidfd: int
    generation: _Generation

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            signal.pidfd_send_signal(self.pidfd, signum)

    def kill_group(self) -> None:
        """SIGKILL what the task started too (it leads its own process group)."""
        kill_process_group(self.pid)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.pidfd)


class ZygoteClient:
    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        start_timeout_s: float = 60.0,
        fork_timeout_s: float = 30.0,
        run_as_user: str | None = None,
        readable: Sequence[str] = (),
    ) -> None:
        self._env = child_environment(os.environ if environ is None else environ, "execution")
        self._start_timeout_s = start_timeout_s
        self._fork_timeout_s = fork_timeout_s
        self._lock = threading.Lock()
        self._generation: _Generation | None = None
        self._ids = itertools.count(1)
        self._no_preload: set[str] = set()
        self._closed = False
        #: Task processes start here, not in the worker's folder (which may hold its config).
        self.workdir = tempfile.mkdtemp(prefix="airlock-tasks-")
        prepare_folder(self.workdir, run_as_user)
        self._env["TMPDIR"] = self.workdir
        #: The zygote, and every task forked from it, runs as ``run_as_user`` and, once told its
        #: bundles (``readable``), can open only them, the task folder, the Python install and
        #: the system's folders.
        self._confinement = Confinement(
            user=run_as_user,
            readable=tuple(readable),
            writable=(self.workdir,),
            landlock=bool(readable),
        )
        self.restarts = -1

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            self._ensure_started()

    def _ensure_started(self) -> _Generation:
        if self._closed:
            raise ZygoteUnavailable("the worker is shutting down")
        if self._generation is not None and not self._generation.dead:
            return self._generation
        if self._generation is not None:
            self._generation.kill()
        self._generation = self._spawn()
        self.restarts += 1
        return self._generation

    def _spawn(self) -> _Generation:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            child = start_child(
                [sys.executable, "-m", "airlock.worker.zygote", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=self._env,
                cwd=self.workdir,
                confinement=self._confinement,
            )
        finally:
            theirs.close()
        generation = _Generation(child, ours)
        ours.settimeout(self._start_timeout_s)
        try:
            data = ours.recv(HEADER_SIZE + MAX_RECORD)
            ready = _decode(data) if data else None
        except (OSError, FrameError) as exc:
            generation.kill()
            child.wait()
            raise ZygoteUnavailable(f"the zygote did not start: {exc}") from exc
        if not isinstance(ready, Ready):
            generation.kill()
            code = child.wait()
            raise ZygoteUnavailable(
                f"the zygote exited with code {code} while starting; its error is in the "
                "worker's output above"
            )
        ours.settimeout(None)
        threading.Thread(
            target=self._read, args=(generation,), name="zygote-reader", daemon=True
        ).start()
        log.info("zygote started (pid %d)", ready.pid)
        return generation

    def close(self) -> None:
        """Stop the zygote: it kills every task process still running."""
        with self._lock:
            self._closed = True
            generation, self._generation = self._generation, None
        if generation is not None:
            with contextlib.suppress(OSError):
                generation.sock.shutdown(socket.SHUT_RDWR)
            if generation.child.wait(10) is None:
                generation.kill()
                generation.child.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        generation = self._generation
        return generation.child.pid if generation is not None else None

    # --- forks --------------------------------------------------------------------------------
    def fork(
        self,
        task_sock: socket.socket,
        output_fd: int,
        *,
        dag_file: str | None = None,
        bundle_root: str | None = None,
        memory_limit_bytes: int | None = None,
    ) -> TaskProcess:
        """A new task process wired to ``task_sock`` and ``output_fd`` (one retry on a dead zygote),
        its heap and private memory capped at ``memory_limit_bytes``."""
        request = (dag_file, bundle_root, memory_limit_bytes)
        try:
            return self._fork_once(task_sock, output_fd, *request)
        except ZygoteUnavailable as exc:
            if self._closed:
                raise
            log.warning("%s; starting a new zygote", exc)
            return self._fork_once(task_sock, output_fd, *request)

    def _fork_once(
        self,
        task_sock: socket.socket,
        output_fd: int,
        dag_file: str | None,
        bundle_root: str | None,
        memory_limit_bytes: int | None,
    ) -> TaskProcess:
        with self._lock:
            generation = self._ensure_started()
        if dag_file in self._no_preload:
            dag_file = None
        request = Fork(
            request_id=next(self._ids),
            dag_file=dag_file,
            bundle_root=bundle_root,
            memory_limit_bytes=memory_limit_bytes,
        )
        pending = _Pending(dag_file=dag_file)
        with generation.cond:
            if generation.dead:
                raise ZygoteUnavailable("the zygote died")
            generation.pending[request.request_id] = pending
        try:
            with generation.send_lock:
                socket.send_fds(
                    generation.sock,
                    [encode_frame(request, max_frame=MAX_RECORD)],
                    [task_sock.fileno(), output_fd],
                )
        except OSError as exc:
            generation.kill()
            raise ZygoteUnavailable(f"the zygote is gone ({exc})") from exc
        if not pending.done.wait(self._fork_timeout_s):
            if dag_file is not None:
                self._no_preload.add(dag_file)
            generation.kill()
            raise ZygoteUnavailable(
                f"the zygote did not fork within {self._fork_timeout_s:g} s"
                + (f" (it was importing {dag_file})" if dag_file else "")
            )
        if pending.pid is None or pending.pidfd is None:
            raise ZygoteUnavailable(pending.error or "the zygote did not fork")
        _make_oom_first(pending.pid)
        return TaskProcess(pid=pending.pid, pidfd=pending.pidfd, generation=generation)

    def wait_exit(self, process: TaskProcess, timeout_s: float) -> int | None:
        """The task process's return code (negative: killed by that signal); ``None`` if unknown."""
        generation = process.generation
        with generation.cond:
            generation.cond.wait_for(
                lambda: process.pid in generation.exits or generation.dead, timeout_s
            )
            status = generation.exits.pop(process.pid, None)
        return None if status is None else os.waitstatus_to_exitcode(status)

    # --- the reader thread --------------------------------------------------------------------
    def _read(self, generation: _Generation) -> None:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(generation.sock, HEADER_SIZE + MAX_RECORD, 1)
            except OSError:
                break
            if not data:
                break
            try:
                message = _decode(data)
            except FrameError as exc:
                log.error("%s; replacing the zygote", exc)
                break
            if isinstance(message, Exited):
                forget_child(message.pid)
                with generation.cond:
                    generation.tasks.discard(message.pid)
                    generation.exits[message.pid] = message.status
                    generation.cond.notify_all()
                continue
            if isinstance(message, Forked | ForkFailed):
                self._answer(generation, message, fds)
        self._bury(generation)

    def _answer(
        self, generation: _Generation, message: Forked | ForkFailed, fds: list[int]
    ) -> None:
        with generation.cond:
            pending = generation.pending.pop(message.request_id, None)
        if isinstance(message, Forked):
            # Recorded first: were this worker killed now, the next one kills its session.
            record_child(message.pid)
            with generation.cond:
                generation.tasks.add(message.pid)
        if pending is None:  # its thread gave up waiting; do not leak the descriptor
            for fd in fds:
                os.close(fd)
            return
        if isinstance(message, Forked) and fds:
            pending.pid, pending.pidfd = message.pid, fds[0]
        else:
            pending.error = message.error if isinstance(message, ForkFailed) else "no pidfd"
        pending.done.set()

    def _bury(self, generation: _Generation) -> None:
        code = generation.child.wait()
        with generation.cond:
            generation.dead = True
            pending = list(generation.pending.values())
            generation.pending.clear()
            tasks, generation.tasks = generation.tasks, set()
            generation.cond.notify_all()
        # Its task processes died with it (their parent-death signal); what they started did not.
        # Only their groups are signalled: the pids themselves may already be another process's.
        for pid in tasks:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            forget_child(pid)
        for item in pending:
            if item.dag_file is not None:
                # It may be what killed the zygote: let task processes import it themselves.
                self._no_preload.add(item.dag_file)
            item.error = f"the zygote exited with code {code} before forking"
            item.done.set()
        if not self._closed:
            log.error(
                "the zygote exited with code %s; running tasks were killed with it, and a new "
                "zygote starts with the next task",
                code,
            )
        generation.sock.close()


def _make_oom_first(pid: int) -> None:
    """A task process is the OOM killer's first pick. It says so itself when it can; when it runs
    as another user, its /proc entry is not its own to write, but it is still this process's."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/oom_score_adj", "wb") as f:
        f.write(b"1000")


def _decode(record: bytes) -> FromZygote:
    payload = frame_payload(record, max_frame=MAX_RECORD)
    message: FromZygote = decode_message(from_zygote_decoder, payload, sender="the zygote")
    return message
