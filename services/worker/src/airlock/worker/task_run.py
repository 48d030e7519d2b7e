"""Supervising one task try, from its workload to its reported outcome.

The supervisor side of a task: it holds the task's token (in the :class:`ExecutionClient` made
for it) and makes every API call the try needs, while the task process — forked from the zygote,
holding nothing — runs user code and talks only to it over the channel of
:mod:`airlock.sdk.execution_time.protocol`.

One thread per task runs :meth:`TaskRun.run`: ask the zygote for a task process, send it
``StartTask`` (it starts loading the DAG file), move the task to ``running`` through the API
(unless the hand-out started it already: its workload then carries the run context, and the
hand-out must be confirmed before any of the task's code runs — by the poll's confirmation,
:mod:`airlock.worker.start_confirmation`, or else by the task's first heartbeat), send ``RunTask``, then loop on the channel, the output pipe and the process's pidfd until the process
has exited, meanwhile

- answering the task's requests (:mod:`airlock.worker.requests`),
- shipping its output as log batches (:mod:`airlock.worker.logs`), with the secrets it was
  handed masked (:mod:`airlock.sdk.execution_time.secrets_masker`),
- heartbeating every ``heartbeat_s``, killing the task when the reply says it must stop,
- killing it past its ``execution_timeout`` or its memory limit, and
- reporting the outcome the moment the task sends it (the next task may be waiting on it).

A process that ends without an outcome — a segfault, ``os._exit``, the OOM killer — is reported
``failed`` with how it ended; the API retries it if retries remain.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import logging
import os
import resource
import secrets
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
import msgspec

from airlock.models.execution import (
    Heartbeat,
    TaskFailed,
    TaskInstanceRef,
    TaskOutcome,
    TaskStart,
    Workload,
)
from airlock.sdk.api import ApiError, ExecutionClient
from airlock.sdk.execution_time import tracing
from airlock.sdk.execution_time.dag_files import OutsideBundle, file_in_bundle
from airlock.sdk.execution_time.protocol import (
    Abort,
    FrameBuffer,
    FrameError,
    Hello,
    RunTask,
    StartTask,
    TaskDone,
    encode_frame,
    from_task_decoder,
)
from airlock.sdk.execution_time.secrets_masker import SecretsMasker
from airlock.worker.logs import LogShipper
from airlock.worker.requests import answer
from airlock.worker.start_confirmation import CONFIRM_PATIENCE_S, PollStarts
from airlock.worker.zygote_client import TaskProcess, ZygoteClient, ZygoteUnavailable

log = logging.getLogger("airlock.worker")

#: Statuses that mean the server no longer expects this try (cleared, reassigned, expired token).
GONE_STATUSES = frozenset({401, 403, 404, 409})
MEMORY_CHECK_S = 0.2
#: How long to keep trying to report an outcome while the API is unreachable.
REPORT_PATIENCE_S = 600.0
#: The longest wait between two tries of a report: well under the heartbeat timeout, since a
#: task whose outcome is not in yet sends no heartbeat (an API that flaps must not make a
#: finished task look gone).
REPORT_BACKOFF_MAX_S = 5.0
_PAGE_SIZE = resource.getpagesize()


@dataclass(frozen=True)
class TaskRunConfig:
    hostname: str
    bundles: Mapping[str, str]
    heartbeat_s: float = 5.0
    log_batch_s: float = 0.5
    #: Kill a task whose process's resident memory passes this many bytes.
    memory_limit_bytes: int | None = None
    #: Between SIGTERM (the operator's ``on_kill`` runs) and SIGKILL.
    kill_grace_s: float = 5.0


class TaskRun:
    def __init__(
        self,
        workload: Workload,
        config: TaskRunConfig,
        zygote: ZygoteClient,
        make_client: Callable[[str], ExecutionClient],
        on_outcome: Callable[[TaskRun], None] | None = None,
        confirmation: PollStarts | None = None,
    ) -> None:
        self.workload = workload
        #: The confirmation of the poll that started this task (None: its first heartbeat
        #: confirms it).
        self._confirmation = confirmation
        #: Called when the task process has given its outcome (it is exiting), before the
        #: outcome is reported to the API.
        self._on_outcome = on_outcome
        self.ti = workload.ti
        #: The secrets handed to the task, masked in its log.
        self.secrets = SecretsMasker()
        self._config = config
        self._zygote = zygote
        self._make_client = make_client
        self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._stop_reason: str | None = None
        self._abandon = threading.Event()
        #: Why the worker is killing the task: (kind, message); kind "server" reports nothing.
        self._kill: tuple[str, str] | None = None
        self._kill_at: float | None = None
        self.outcome: TaskOutcome | None = None
        self.reported = False
        #: The hand-out moved the task to running under this supervisor's pid: its first
        #: heartbeat and its outcome then name the task process (the server records that pid).
        self.started_by_handout = workload.context is not None
        #: The pid the server has the task under (None: not started yet).
        self.recorded_pid: int | None = os.getpid() if self.started_by_handout else None
        #: The worker's span for the try, which the task process's span nests under.
        self._traceparent: str | None = None

    def __repr__(self) -> str:
        ti = self.ti
        index = f"[{ti.map_index}]" if ti.map_index >= 0 else ""
        return f"{ti.dag_id}.{ti.task_id}{index} run {ti.run_id} try {ti.try_number}"

    # --- control from other threads -----------------------------------------------------------
    def stop(self, reason: str) -> None:
        """Kill the task and report it failed with ``reason`` (the worker is shutting down)."""
        self._stop_reason = reason
        with contextlib.suppress(OSError):
            os.eventfd_write(self._wake, 1)

    def abandon(self) -> None:
        """Stop retrying an outcome report against an unreachable API."""
        self._abandon.set()
        self.stop("the worker stopped")

    # --- the task's life ----------------------------------------------------------------------
    def run(self) -> None:
        """Run the try to its end, in the worker's span for it; never raises."""
        with tracing.span_under(
            self.workload.traceparent, f"run {self.ti.task_id}", _span_attributes(self.ti)
        ) as traceparent:
            self._traceparent = traceparent
            self._run_try()

    def _run_try(self) -> None:
        client, logs = self._client_and_logs()
        started = time.monotonic()
        try:
            self._run(client, logs)
        except Exception as exc:
            log.exception("%s: the worker failed while supervising it", self)
            if self.recorded_pid is not None and self.outcome is None:
                # It is running on the server's books: say it ended, rather than leave it to
                # the heartbeat check.
                self._report_supervision_failure(client, logs, exc)
        finally:
            client.close()
            os.close(self._wake)
        state = self.outcome.__struct_config__.tag if self.outcome is not None else None
        log.info(
            "%s: %s in %.3f s",
            self,
            state if self.reported else "not reported",
            time.monotonic() - started,
        )

    def _run(self, client: ExecutionClient, logs: LogShipper) -> None:
        workload = self.workload
        bundle_root = self._config.bundles.get(workload.bundle)
        if bundle_root is None:
            known = ", ".join(sorted(self._config.bundles)) or "none"
            self._fail_without_process(
                client,
                logs,
                f"bundle {workload.bundle!r} is not configured on worker "
                f"{self._config.hostname} ([worker] bundles has: {known}); add its folder there",
            )
            return
        try:
            dag_file = file_in_bundle(bundle_root, workload.dag_rel_path)
        except OutsideBundle as exc:
            self._fail_without_process(client, logs, str(exc))
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        output_r, output_w = os.pipe()
        os.set_blocking(output_r, False)
        process: TaskProcess | None = None
        try:
            try:
                process = self._zygote.fork(
                    theirs,
                    output_w,
                    dag_file=dag_file,
                    bundle_root=bundle_root,
                    memory_limit_bytes=self._config.memory_limit_bytes,
                )
            except ZygoteUnavailable as exc:
                self._fail_without_process(client, logs, f"no task process could be made: {exc}")
                return
            finally:
                theirs.close()
                os.close(output_w)
            self._supervise(client, logs, process, ours, output_r, bundle_root)
        finally:
            if process is not None:
                process.kill_group()
                process.close()
            ours.close()
            os.close(output_r)

    def _supervise(
        self,
        client: ExecutionClient,
        logs: LogShipper,
        process: TaskProcess,
        sock: socket.socket,
        output_r: int,
        bundle_root: str,
    ) -> None:
        workload = self.workload
        nonce = secrets.token_hex(16)
        sock.settimeout(30.0)
        sock.sendall(
            encode_frame(
                StartTask(
                    nonce=nonce,
                    ti=self.ti,
                    bundle=workload.bundle,
                    bundle_root=bundle_root,
                    relative_fileloc=workload.dag_rel_path,
                    dag_run=workload.dag_run,
                    map_length=workload.map_length,
                    traceparent=self._traceparent,
                )
            )
        )
        context = workload.context
        if context is not None:
            if self._confirmation is not None:
                refused = self._confirmation.wait(self.ti.id)
            else:
                refused = self._confirm(client, process)
            if refused is not None:
                # Not ours any more (it went back to the queue), or the API could not be told:
                # the task's code must not run, or it might run twice.
                log.warning("%s: not running it: %s", self, refused)
                with contextlib.suppress(OSError):
                    sock.sendall(encode_frame(Abort(reason=refused)))
                self._zygote.wait_exit(process, self._config.kill_grace_s)
                return
        else:
            self.recorded_pid = process.pid
            start = TaskStart(
                hostname=self._config.hostname, pid=process.pid, start_date=dt.datetime.now(dt.UTC)
            )
            try:
                context = client.start(self.ti.id, start)
            except (ApiError, httpx.HTTPError) as exc:
                # Not ours to run (cleared, or started elsewhere), or the API is down: the
                # hand-out lease brings it back to a worker later.
                log.warning("%s: the Execution API did not let it start: %s", self, exc)
                with contextlib.suppress(OSError):
                    sock.sendall(encode_frame(Abort(reason=str(exc))))
                self._zygote.wait_exit(process, self._config.kill_grace_s)
                return
        logs.continue_from(context.log_seq_start)  # a try resumed after a deferral
        with contextlib.suppress(OSError):  # a process that already died is reported below
            sock.sendall(encode_frame(RunTask(context=context)))
        _Loop(self, client, logs, process, sock, output_r, nonce).run()

    def _confirm(self, client: ExecutionClient, process: TaskProcess) -> str | None:
        """Tell the server this worker received the task the hand-out started for it, before
        its code runs (its first heartbeat, naming the task's process); None once confirmed,
        otherwise why it must not run. Retried while the API is unreachable: the server's answer
        says whether the start still holds (unconfirmed, it goes back to the queue)."""
        beat = Heartbeat(hostname=self._config.hostname, pid=os.getpid(), task_pid=process.pid)
        give_up = time.monotonic() + CONFIRM_PATIENCE_S
        delay = 0.2
        while True:
            try:
                reply = client.heartbeat(self.ti.id, beat)
            except ApiError as exc:
                if exc.status in GONE_STATUSES:
                    return f"the server no longer expects this task ({exc.detail})"
                error: Exception = exc
            except httpx.HTTPError as exc:
                error = exc
            else:
                if reply.keep_running:
                    self.recorded_pid = process.pid
                    return None
                return f"the server gave its start back to the queue (it is {reply.state})"
            if time.monotonic() > give_up or self._stop_reason is not None:
                return f"its start could not be confirmed: {error}"
            log.warning("%s: could not confirm its start (%s); retrying", self, error)
            self._abandon.wait(delay)
            delay = min(delay * 2, 2.0)

    def _client_and_logs(self) -> tuple[ExecutionClient, LogShipper]:
        """The API client holding this task's token, and its log shipper."""
        client = self._make_client(self.workload.token)
        logs = LogShipper(
            lambda batch: client.send_logs(self.ti.id, batch),
            try_number=self.ti.try_number,
            batch_s=self._config.log_batch_s,
            redact=self.secrets.redact,
        )
        return client, logs

    def _report_supervision_failure(
        self, client: ExecutionClient, logs: LogShipper, exc: Exception
    ) -> None:
        error = f"the worker failed while supervising the task: {type(exc).__name__}: {exc}"
        try:
            logs.note(error)
            logs.flush(final=True)
            self.report(client, TaskFailed(end_date=dt.datetime.now(dt.UTC), error=error))
        except Exception:
            log.exception("%s: could not report that its supervision failed", self)

    def fail_unstarted(self, error: str) -> None:
        """Report a task the hand-out started but that never got a process (the worker is
        stopping) as failed, saying why in its log; never raises."""
        client, logs = self._client_and_logs()
        try:
            self._abandon.set()  # one attempt: the worker is on its way out
            self._fail_without_process(client, logs, error)
        except Exception:
            log.exception("%s: could not report that it never started", self)
        finally:
            client.close()
            os.close(self._wake)

    def _fail_without_process(self, client: ExecutionClient, logs: LogShipper, error: str) -> None:
        """Move the task to running (unless the hand-out did) and straight to failed, saying why
        in its log."""
        log.error("%s: %s", self, error)
        if not self.started_by_handout:
            try:
                client.start(
                    self.ti.id,
                    TaskStart(
                        hostname=self._config.hostname,
                        pid=os.getpid(),
                        start_date=dt.datetime.now(dt.UTC),
                    ),
                )
            except (ApiError, httpx.HTTPError) as exc:
                log.warning("%s: could not start it to report the failure: %s", self, exc)
                return
        logs.note(error)
        logs.flush(final=True)
        self.report(client, TaskFailed(end_date=dt.datetime.now(dt.UTC), error=error))

    def report(self, client: ExecutionClient, outcome: TaskOutcome) -> None:
        """Tell the API how the try ended, retrying while it is unreachable."""
        self.outcome = outcome
        delay = 0.5
        give_up = time.monotonic() + REPORT_PATIENCE_S
        while True:
            try:
                client.finish(self.ti.id, outcome)
                self.reported = True
                return
            except ApiError as exc:
                if exc.status in GONE_STATUSES:
                    log.warning("%s: the server did not take its outcome: %s", self, exc)
                    return
                error: Exception = exc
            except httpx.HTTPError as exc:
                error = exc
            if time.monotonic() > give_up or self._abandon.is_set():
                log.error("%s: its outcome %s was lost: %s", self, outcome, error)
                return
            log.warning(
                "%s: could not report its outcome (%s); retrying in %.0f s", self, error, delay
            )
            if self._abandon.wait(delay):
                continue
            delay = min(delay * 2, REPORT_BACKOFF_MAX_S)


class _Loop:
    """The select loop of one task process; ends when the process has exited."""

    def __init__(
        self,
        run: TaskRun,
        client: ExecutionClient,
        logs: LogShipper,
        process: TaskProcess,
        sock: socket.socket,
        output_r: int,
        nonce: str,
    ) -> None:
        self.run_ = run
        self.client = client
        self.logs = logs
        self.process = process
        self.sock = sock
        self.output_r = output_r
        self.nonce = nonce
        self.config = run._config
        self.frames = FrameBuffer()
        self.greeted = False
        self.done: TaskOutcome | None = None
        self.exited = False
        now = time.monotonic()
        timeout = run.workload.execution_timeout_s
        self.deadline = now + timeout if timeout else None
        self.next_heartbeat = now + self.config.heartbeat_s
        self.next_memory_check = now + MEMORY_CHECK_S if self.config.memory_limit_bytes else None
        #: Once the outcome is in, the process gets this long to exit on its own.
        self.exit_deadline: float | None = None

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.sock, selectors.EVENT_READ, "channel")
        selector.register(self.output_r, selectors.EVENT_READ, "output")
        selector.register(self.process.pidfd, selectors.EVENT_READ, "exit")
        selector.register(self.run_._wake, selectors.EVENT_READ, "wake")
        with selector:
            while not self.exited:
                for key, _ in selector.select(self._wait_s()):
                    if key.data == "channel" and not self._read_channel():
                        selector.unregister(self.sock)
                    elif key.data == "output" and not self._read_output():
                        selector.unregister(self.output_r)
                    elif key.data == "exit":
                        self.exited = True
                    elif key.data == "wake":
                        with contextlib.suppress(BlockingIOError):
                            os.eventfd_read(self.run_._wake)
                self._on_time(time.monotonic())
        # Everything the process wrote before it exited is in the socket and the pipe now.
        while self._read_channel():
            pass
        while self._read_output():
            pass
        self._finish()

    # --- events -------------------------------------------------------------------------------
    def _read_channel(self) -> bool:
        try:
            data = self.sock.recv(1 << 16, socket.MSG_DONTWAIT)
        except (BlockingIOError, TimeoutError):
            return False
        except OSError:
            return False
        if not data:
            return False
        try:
            for frame in self.frames.feed(data):
                self._on_message(frame)
        except (FrameError, ValueError) as exc:
            self._kill("protocol", f"the task process broke the channel protocol ({exc})", True)
            return False
        return True

    def _read_output(self) -> bool:
        try:
            data = os.read(self.output_r, 1 << 16)
        except BlockingIOError:
            return False
        if not data:
            return False
        self.logs.feed(data)
        return True

    def _on_message(self, frame: bytes) -> None:
        message = from_task_decoder.decode(frame)
        if isinstance(message, Hello):
            if not hmac.compare_digest(message.nonce, self.nonce):
                raise FrameError("its Hello carried the wrong nonce")
            self.greeted = True
            return
        if not self.greeted:
            raise FrameError(f"it sent {type(message).__name__} before Hello")
        if isinstance(message, TaskDone):
            self._on_done(message.outcome)
            return
        reply = encode_frame(answer(self.client, self.run_.ti, message, self.run_.secrets))
        with contextlib.suppress(OSError):  # it died waiting: its exit is reported
            self.sock.sendall(reply)

    def _on_done(self, outcome: TaskOutcome) -> None:
        if self.done is not None:
            return
        self.done = outcome
        self.exit_deadline = time.monotonic() + self.config.kill_grace_s
        if self.run_._kill is not None and self.run_._kill[0] == "server":
            return
        # The slot is as good as free: the worker's poll for its next task goes out now and
        # waits at the API for what this report queues, rather than starting after the reply.
        if self.run_._on_outcome is not None:
            self.run_._on_outcome(self.run_)
        # Report at once: the scheduler may be waiting on it to queue the next task.
        self.logs.flush(final=False)
        self.run_.report(self.client, self._with_pid(outcome))

    def _on_time(self, now: float) -> None:
        run = self.run_
        if run._stop_reason is not None and run._kill is None:
            self._kill("stopped", run._stop_reason)
        if self.deadline is not None and now >= self.deadline and self.done is None:
            timeout = run.workload.execution_timeout_s
            self._kill("timeout", f"the task ran past its execution_timeout of {timeout:g} s")
            self.deadline = None
        if run._kill_at is not None and now >= run._kill_at:
            run._kill_at = None
            self._hard_kill()
        if self.exit_deadline is not None and now >= self.exit_deadline:
            self.exit_deadline = None
            self._hard_kill()
        if self.next_memory_check is not None and now >= self.next_memory_check:
            self.next_memory_check = now + MEMORY_CHECK_S
            self._check_memory()
        if now >= self.next_heartbeat and self.done is None:
            self.next_heartbeat = now + self.config.heartbeat_s
            self._heartbeat()
        self.logs.maybe_flush(now)

    def _wait_s(self) -> float:
        times = [
            self.next_heartbeat if self.done is None else None,
            self.logs.due_at,
            self.deadline,
            self.run_._kill_at,
            self.exit_deadline,
            self.next_memory_check,
        ]
        soonest = min((t for t in times if t is not None), default=time.monotonic() + 1.0)
        return max(0.0, soonest - time.monotonic())

    # --- duties -------------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        try:
            recorded = self.run_.recorded_pid or self.process.pid
            reply = self.client.heartbeat(
                self.run_.ti.id,
                Heartbeat(
                    hostname=self.config.hostname,
                    pid=recorded,
                    task_pid=self.process.pid if recorded != self.process.pid else None,
                ),
            )
        except ApiError as exc:
            if exc.status in GONE_STATUSES:
                self._kill("server", f"the server no longer expects this task ({exc.detail})")
            else:
                log.warning("%s: heartbeat refused: %s", self.run_, exc)
            return
        except httpx.HTTPError as exc:
            log.warning(
                "%s: heartbeat failed, the Execution API is unreachable: %s", self.run_, exc
            )
            return
        if reply.keep_running:
            self.run_.recorded_pid = self.process.pid
        else:
            state = f" (it is {reply.state})" if reply.state else ""
            self._kill("server", f"the server says this task must stop{state}")

    def _check_memory(self) -> None:
        limit = self.config.memory_limit_bytes
        rss = _resident_bytes(self.process.pid)
        if limit is not None and rss is not None and rss > limit:
            self._kill(
                "memory",
                f"the task used {rss / 2**20:.0f} MiB of memory, over the worker's limit of "
                f"{limit / 2**20:.0f} MiB",
                hard=True,
            )
            self.next_memory_check = None

    def _kill(self, kind: str, message: str, hard: bool = False) -> None:
        run = self.run_
        if run._kill is not None:
            return
        run._kill = (kind, message)
        log.warning("%s: %s; killing it", run, message)
        self.logs.note(f"{message}; killing it")
        if hard:
            self._hard_kill()
        else:
            self.process.signal(signal.SIGTERM)
            run._kill_at = time.monotonic() + self.config.kill_grace_s

    def _hard_kill(self) -> None:
        self.process.signal(signal.SIGKILL)
        self.process.kill_group()

    # --- the end ------------------------------------------------------------------------------
    def _finish(self) -> None:
        run = self.run_
        returncode = run._zygote.wait_exit(self.process, 5.0)
        if self.done is not None:
            self.logs.flush(final=True)
            return
        if run._kill is not None and run._kill[0] == "server":
            self.logs.flush(final=True)
            return
        if run._kill is not None:
            error = run._kill[1]
        else:
            error = f"the task process {describe_exit(returncode)} before reporting an outcome"
            self.logs.note(error)
            log.warning("%s: %s", run, error)
        self.logs.flush(final=True)
        run.report(
            self.client, self._with_pid(TaskFailed(end_date=dt.datetime.now(dt.UTC), error=error))
        )

    def _with_pid(self, outcome: TaskOutcome) -> TaskOutcome:
        """The outcome naming the task's process if the server has the task under another (and
        whatever pid the task process itself put there, never)."""
        pid = None if self.run_.recorded_pid in (None, self.process.pid) else self.process.pid
        return outcome if outcome.pid == pid else msgspec.structs.replace(outcome, pid=pid)


def _span_attributes(ti: TaskInstanceRef) -> dict[str, str | int]:
    return {
        "airlock.dag_id": ti.dag_id,
        "airlock.run_id": ti.run_id,
        "airlock.task_id": ti.task_id,
        "airlock.map_index": ti.map_index,
        "airlock.try_number": ti.try_number,
    }


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "ended (its exit status is unknown: the zygote that forked it is gone)"
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    why = {
        "SIGKILL": " (the kernel's OOM killer does this when memory runs out)",
        "SIGSEGV": " (a crash in native code)",
        "SIGABRT": " (an abort in native code)",
        "SIGBUS": " (a crash in native code)",
    }.get(name, "")
    return f"was killed by {name}{why}"


def _resident_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None
