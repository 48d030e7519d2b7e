"""The zygote: a process that has the SDK imported and forks one task process per request.

Why it exists: a fresh Python process pays ~0.2 s importing the SDK before a task's first line
runs; a fork of a process that already did costs ~2 ms. Why it is a separate process and not the
supervisor itself: the supervisor holds the worker token and every task token, and a fork of it
would carry them in memory. The zygote is started with the environment of every supervised child
(:func:`~airlock.sdk.execution_time.supervised.child_environment`) — the worker's less every
``AIRLOCK_*`` variable — so it never sees a token, a config path or a DB URL, and neither can
anything forked from it.

Protocol: one ``AF_UNIX``/``SOCK_SEQPACKET`` socket pair to the supervisor, each record one frame
of a supervised child's channel (:mod:`airlock.sdk.execution_time.supervised`), with file
descriptors passed alongside with ``SCM_RIGHTS``:

- zygote → supervisor, once: :class:`Ready`;
- supervisor → zygote: :class:`Fork` with the task's end of its channel and the write end of its
  output pipe; the zygote preloads the task's DAG file (see
  :mod:`airlock.sdk.execution_time.dag_files`), forks, and answers :class:`Forked` with the pid
  and a pidfd (a handle on exactly that process, safe from pid reuse) or :class:`ForkFailed`;
- zygote → supervisor: :class:`Exited` with the wait status of each task process it reaps.

The zygote runs confined (:class:`~airlock.sdk.execution_time.supervised.Confinement`): as the
worker's ``run_as_user`` when the worker is root, and, with Landlock, able to open only the
worker's bundles, the task folder, the Python install and the system's folders; every task process
inherits that. In the task process, file descriptors 1 and 2 become the output pipe, its memory is
capped (``RLIMIT_DATA``), and it enters the sandbox every supervised child enters: its own session (so its subprocesses can be killed as a group),
death with the zygote (``PR_SET_PDEATHSIG``), first pick of the kernel's OOM killer. When the
supervisor goes away — even by SIGKILL — the zygote reads end of file or, if it is busy importing
a DAG file, gets SIGTERM from the kernel; either way it kills every task's process group and
exits, so no task outlives its worker.
"""

from __future__ import annotations

import _signal
import contextlib
import ctypes
import functools
import gc
import importlib
import os
import selectors
import signal
import socket
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import msgspec

from airlock.sdk.execution_time.supervised import (
    HEADER_SIZE,
    FrameError,
    Message,
    block_imports,
    confinement,
    decode_message,
    encode_frame,
    enter_sandbox,
    frame_payload,
    kill_process_group,
    limit_memory,
    parent_pid,
)

#: Largest frame on the zygote channel; every message is a few hundred bytes.
MAX_RECORD = 64 * 1024
#: Imported once by the zygote so task processes start with them loaded.
PRELOADED_MODULES = (
    "airlock.sdk",
    "airlock.sdk.execution_time.task_runner",
    "jinja2",
    "jinja2.ext",
    "jinja2.nativetypes",
    "json",
    "subprocess",
)


class Ready(Message, frozen=True, tag="ready"):
    pid: int


class Fork(Message, frozen=True, tag="fork"):
    """Sent with two descriptors: the task's channel end and its output pipe's write end."""

    request_id: int
    #: The DAG file to have imported before forking, and its bundle's folder.
    dag_file: str | None = None
    bundle_root: str | None = None
    #: The task process's heap and private memory cap (``RLIMIT_DATA``), in bytes.
    memory_limit_bytes: int | None = None


class Forked(Message, frozen=True, tag="forked"):
    """Sent with one descriptor: a pidfd of the new task process."""

    request_id: int
    pid: int


class ForkFailed(Message, frozen=True, tag="fork_failed"):
    request_id: int
    error: str


class Exited(Message, frozen=True, tag="exited"):
    pid: int
    #: The raw wait status (``os.waitstatus_to_exitcode`` makes it a return code).
    status: int


ToZygote = Fork
FromZygote = Ready | Forked | ForkFailed | Exited
to_zygote_decoder = msgspec.msgpack.Decoder(ToZygote)
from_zygote_decoder = msgspec.msgpack.Decoder(FromZygote)


class _Zygote:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.children: set[int] = set()
        self.wakeup_r, self.wakeup_w = os.pipe()
        os.set_blocking(self.wakeup_w, False)
        signal.set_wakeup_fd(self.wakeup_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self.on_sigterm)

    def send(self, record: Message, fds: Sequence[int] = ()) -> None:
        socket.send_fds(self.control, [encode_frame(record, max_frame=MAX_RECORD)], list(fds))

    def on_sigterm(self, *_: object) -> None:
        """The supervisor died (the parent-death signal) or someone stops the zygote."""
        self.kill_all()
        os._exit(0)

    def serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.control, selectors.EVENT_READ, "control")
        selector.register(self.wakeup_r, selectors.EVENT_READ, "sigchld")
        self.send(Ready(pid=os.getpid()))
        while True:
            for key, _ in selector.select():
                if key.data == "sigchld":
                    os.read(self.wakeup_r, 4096)
                    self.reap()
                elif not self.handle_request():
                    self.kill_all()
                    return

    def handle_request(self) -> bool:
        try:
            data, fds, _, _ = socket.recv_fds(self.control, HEADER_SIZE + MAX_RECORD, 2)
        except ConnectionError:
            return False
        if not data:
            return False
        try:
            payload = frame_payload(data, max_frame=MAX_RECORD)
            request = decode_message(to_zygote_decoder, payload, sender="the supervisor")
        except FrameError:
            for fd in fds:
                os.close(fd)
            return True
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            self.send(ForkFailed(request_id=request.request_id, error="expected 2 descriptors"))
            return True
        self.fork(request, fds[0], fds[1])
        return True

    def fork(self, request: Fork, task_fd: int, output_fd: int) -> None:
        if request.dag_file and request.bundle_root:
            _dag_files().preload(request.dag_file, request.bundle_root)
        # Everything the zygote holds now (a DAG file it just imported included) is left out of
        # the task's garbage collections, which would otherwise write to, and so copy, its pages.
        gc.freeze()
        zygote_pid = os.getpid()
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(task_fd)
            os.close(output_fd)
            self.send(ForkFailed(request_id=request.request_id, error=f"fork failed: {exc}"))
            return
        if pid == 0:
            self.become_task(zygote_pid, task_fd, output_fd, request.memory_limit_bytes)
        os.close(task_fd)
        os.close(output_fd)
        self.children.add(pid)
        pidfd = os.pidfd_open(pid)
        try:
            self.send(Forked(request_id=request.request_id, pid=pid), [pidfd])
        finally:
            os.close(pidfd)

    def become_task(
        self, zygote_pid: int, task_fd: int, output_fd: int, memory_limit_bytes: int | None
    ) -> None:
        """In the new process: detach from the zygote, wire the output, run the task.

        Every page this writes is a page the kernel copies from the zygote, so it sticks to
        system calls and objects the zygote made ready (``_signal`` rather than ``signal``'s
        enum wrappers, ``os.write`` rather than a text file).
        """
        exit_code = 70
        try:
            _signal.set_wakeup_fd(-1)
            _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
            _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
            self.control.close()
            os.close(self.wakeup_r)
            os.close(self.wakeup_w)
            enter_sandbox(zygote_pid)
            if memory_limit_bytes:
                limit_memory(memory_limit_bytes)
            os.dup2(output_fd, 1)
            os.dup2(output_fd, 2)
            os.close(output_fd)
            os.set_inheritable(task_fd, False)
            _task_runner().main(socket.socket(fileno=task_fd))
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(exit_code)

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            with contextlib.suppress(OSError):
                self.send(Exited(pid=pid, status=status))

    def kill_all(self) -> None:
        """The supervisor is gone: no task may keep running without one."""
        for pid in self.children:
            kill_process_group(pid)


@functools.cache
def _task_runner() -> Any:
    """The SDK's task runner, imported by the zygote after its import guard is in place."""
    from airlock.sdk.execution_time import task_runner

    return task_runner


@functools.cache
def _dag_files() -> Any:
    from airlock.sdk.execution_time import dag_files

    return dag_files


def _give_back_free_memory() -> None:
    """Return the heap pages that imports and the warm-up freed to the kernel (glibc keeps them
    otherwise), so neither the zygote nor any task forked from it carries them."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc only
    if trim is not None:
        trim(0)


def main(argv: Sequence[str]) -> None:
    # The kernel's SIGTERM when the supervisor dies lets the zygote kill its tasks' groups first;
    # the zygote's own memory is not the OOM killer's first pick, its tasks are.
    enter_sandbox(
        parent_pid(), death_signal=signal.SIGTERM, oom_first=False, confinement=confinement()
    )
    control = socket.socket(fileno=int(argv[0]))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    # Ctrl-C in the worker's terminal is the supervisor's to handle; the zygote stops when the
    # supervisor closes the channel.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    block_imports("tasks", "use airlock.sdk's Variable, Connection and XCom instead")
    for name in PRELOADED_MODULES:
        importlib.import_module(name)
    importlib.import_module("airlock.sdk").preload()
    task_runner = _task_runner()
    task_runner.configure_process()
    # With an OTLP endpoint in the environment, every task process inherits the exporter (its
    # batch thread restarts in the child) instead of importing it per task.
    importlib.import_module("airlock.sdk.execution_time.tracing").start_task_process_tracing()
    task_runner.warm_up()
    # Objects imported so far are never collected: freezing them keeps the garbage collector
    # from touching (and so copying) their pages in every forked task.
    gc.freeze()
    _give_back_free_memory()
    _Zygote(control).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
