"""The callback processor loop: lease due callbacks, run each in a child, report the outcomes.

Up to ``concurrency`` callbacks run at once, each on a thread that drives one supervised child
(:mod:`airlock.callback_processor.children`). The loop leases only as many callbacks as it has
free slots, for the callback timeout plus a grace, so a processor that dies (SIGKILL, a lost
host) leaves leases that expire and callbacks that the next lease delivers again — as a new
attempt, with the same idempotency key. Outcomes are reported in batches; a report the server
refuses as fenced (the lease had moved on) is dropped, because a newer attempt owns the
callback.
"""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

import httpx

from airlock.callback_processor.children import ChildPool
from airlock.callback_processor.protocol import RunCallback
from airlock.models.callbacks import MAX_LOG_CHARS, CallbackOutcome, LeasedCallback
from airlock.models.secrets import ConnectionInfo
from airlock.sdk.api import ApiError, InternalClient
from airlock.sdk.execution_time.supervised import Confinement, prepare_folder

log = logging.getLogger("airlock.callback_processor")


class CallbackProcessor:
    def __init__(
        self,
        client: InternalClient,
        bundles: dict[str, Path],
        *,
        name: str | None = None,
        concurrency: int = 4,
        timeout_s: float = 60.0,
        lease_grace_s: float = 15.0,
        poll_interval_s: float = 0.5,
        child_max_callbacks: int = 200,
        run_as_user: str | None = None,
        child_memory_mb: int | None = None,
        temp_folder: Path | None = None,
    ) -> None:
        self.client = client
        self.bundles = {name: root.resolve() for name, root in bundles.items()}
        self.holder = name or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.concurrency = concurrency
        self.prefetch = concurrency * 4
        self.lease_s = timeout_s + lease_grace_s
        self.poll_interval_s = poll_interval_s
        #: The children's temp and working folder: the only folder they may write to.
        self._own_tmp = temp_folder is None
        self._tmp = (
            str(temp_folder) if temp_folder else tempfile.mkdtemp(prefix="airlock-callbacks-")
        )
        prepare_folder(self._tmp, run_as_user)
        self.pool = ChildPool(
            timeout_s=timeout_s,
            max_callbacks=child_max_callbacks,
            get_variable=client.get_variable,
            get_connection=self._connection,
            confinement=Confinement(
                user=run_as_user,
                memory_limit_bytes=child_memory_mb * 2**20 if child_memory_mb else None,
                readable=tuple(str(root) for root in self.bundles.values()),
                writable=(self._tmp,),
            ),
        )
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="callback")
        self._pending: list[CallbackOutcome] = []

    def _connection(self, bundle: str, conn_id: str) -> ConnectionInfo | None:
        return self.client.get_connection(bundle, conn_id)

    def run_callback(self, leased: LeasedCallback) -> CallbackOutcome:
        """One attempt of ``leased``, start to outcome (never raises)."""
        root = self.bundles.get(leased.bundle)
        if root is None:
            configured = ", ".join(sorted(self.bundles)) or "none"
            return self._outcome(
                leased,
                f"bundle {leased.bundle!r} is not configured on callback processor "
                f"{self.holder} (configured: {configured})",
            )
        if leased.relative_fileloc is None:
            return self._outcome(leased, f"DAG {leased.dag_id!r} no longer exists")
        request = RunCallback(
            path=str(root / leased.relative_fileloc),
            bundle_root=str(root),
            callback_kind=leased.kind,
            dag_id=leased.dag_id,
            run_id=leased.run_id,
            task_id=leased.task_id,
            map_index=leased.map_index,
            try_number=leased.try_number,
            payload=leased.payload,
            idempotency_key=leased.idempotency_key,
            attempt=leased.attempt,
            max_attempts=leased.max_attempts,
        )
        try:
            finished = self.pool.run(leased.bundle, request)
        except Exception as exc:  # a variable the API would not give, a child that won't start
            return self._outcome(leased, f"the callback processor could not run it: {exc!r}")
        return self._outcome(leased, finished.error, finished.log)

    @staticmethod
    def _outcome(leased: LeasedCallback, error: str | None, text: str = "") -> CallbackOutcome:
        return CallbackOutcome(
            id=leased.id,
            epoch=leased.epoch,
            error=None if error is None else error[-MAX_LOG_CHARS:],
            log=text[-MAX_LOG_CHARS:],
        )

    def run_forever(self, stop: threading.Event) -> None:
        running: set[Future[CallbackOutcome]] = set()
        backlog: deque[LeasedCallback] = deque()
        last_report = time.monotonic()
        while not stop.is_set():
            # A small backlog keeps every slot busy between leases; it is leased with the
            # rest, so a processor that dies gives it back when the lease runs out.
            room = self.prefetch - len(backlog) - len(running)
            if room > 0 and len(backlog) < self.concurrency:
                try:
                    backlog.extend(self.client.lease_callbacks(self.holder, room, self.lease_s))
                except (ApiError, httpx.TransportError) as exc:
                    log.warning("could not lease callbacks: %s", exc)
            while backlog and len(running) < self.concurrency:
                callback = backlog.popleft()
                log.debug(
                    "callback %s (%s of %s, attempt %s) started",
                    callback.id,
                    callback.kind,
                    callback.dag_id,
                    callback.attempt,
                )
                running.add(self._threads.submit(self.run_callback, callback))
            if running:
                done, left = wait(
                    running, timeout=self.poll_interval_s, return_when=FIRST_COMPLETED
                )
                running = set(left)
                self._pending += [future.result() for future in done]
            else:
                stop.wait(self.poll_interval_s)
            busy = bool(running or backlog)
            if self._pending and (
                not busy or len(self._pending) >= 50 or time.monotonic() - last_report > 0.1
            ):
                self._report()
                last_report = time.monotonic()
        # Stopping: report what finishes soon; the rest (and the backlog) come back when their
        # lease runs out.
        if running:
            done, _ = wait(running, timeout=5)
            self._pending += [future.result() for future in done]
        self._report()

    def _report(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending[:500], self._pending[500:]
        try:
            result = self.client.report_callbacks(self.holder, batch)
        except (ApiError, httpx.TransportError) as exc:
            log.warning("could not report %d callback outcome(s); will retry: %s", len(batch), exc)
            self._pending = batch + self._pending
            time.sleep(self.poll_interval_s)
            return
        for outcome in batch:
            if outcome.error is not None and outcome.id in result.recorded:
                dead = " and is dead-lettered" if outcome.id in result.dead_lettered else ""
                last_line = (outcome.error.strip().splitlines() or [""])[-1]
                log.warning("callback %s failed%s: %s", outcome.id, dead, last_line)
        if result.fenced:
            log.info("outcomes of callbacks %s were fenced: their lease moved on", result.fenced)

    def close(self) -> None:
        # A callback still running is not waited for: its child dies with this process.
        self._threads.shutdown(wait=False, cancel_futures=True)
        self.pool.close()
        self.client.close()
        if self._own_tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
