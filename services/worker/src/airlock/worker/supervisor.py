"""The worker's supervisor: pulls workloads and runs each task in a process that holds no token.

Three kinds of process make a worker:

- this **supervisor** (``airlock worker``): it holds the worker token, long-polls
  ``POST /execution/workloads/next`` for as many tasks as it has free slots (asking the hand-out
  to move those it starts at once to ``running``, which saves a start call per task), and for
  each task makes every API call with that task's own token (:mod:`airlock.worker.task_run`);
- the **zygote** (:mod:`airlock.worker.zygote`), started with an environment scrubbed of
  everything of Airlock's, which has the SDK imported and forks task processes on request;
- one **task process** per running task, which runs user code and can reach Airlock only by
  asking the supervisor over a private socket.

Why the task never sees its token: a token in a task's environment, arguments or memory can be
read by the task's code, by any library it imports and by anything it starts, and used to act as
that task (or, for the worker token, to take other tasks' workloads). So the token stays where
user code never runs: the supervisor. The task process is forked from the zygote, which was
started without any token and never received one; the supervisor sends it only what the task
needs to run and the answers to its requests. The ``airlock worker`` command also keeps the
supervisor's own memory and environment out of reach of same-user tasks
(:mod:`airlock.sdk.execution_time.supervised`).

The worker holds no DB URL and never imports the DB layer (ADR 0001, 0003).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from airlock.models.execution import Workload, WorkloadBatch, WorkloadRequest
from airlock.sdk.api import ApiError, ExecutionClient, shared_http_client
from airlock.worker import metrics
from airlock.worker.start_confirmation import PollStarts
from airlock.worker.task_run import TaskRun, TaskRunConfig
from airlock.worker.zygote_client import ZygoteClient

log = logging.getLogger("airlock.worker")

#: How long one poll may wait on the server; a stopping worker waits for the last one.
POLL_WAIT_S = 5.0
#: What a poll may take beyond its wait: the server's own work and the network.
POLL_MARGIN_S = 2.0
#: Polls a worker keeps in flight at most: slots that free while one poll is out are asked for by
#: another at once, rather than after the first one answers.
POLLERS = 2
#: How long a slot whose task has given its outcome counts as soon free while the outcome is
#: being reported (normally milliseconds).
FINISHING_CREDIT_S = 2.0
#: Back-off while the Execution API is unreachable.
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 15.0


class WorkerRefused(RuntimeError):
    """The Execution API refused the worker token: retrying cannot help."""


class Worker:
    def __init__(
        self,
        *,
        api_url: str,
        token: str,
        name: str | None = None,
        queues: Sequence[str] = ("default",),
        concurrency: int = 16,
        bundles: Mapping[str, str] | None = None,
        heartbeat_s: float = 5.0,
        log_batch_s: float = 0.5,
        task_memory_limit_mb: float | None = None,
        shutdown_grace_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        environ: Mapping[str, str] | None = None,
        run_as_user: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.queues = list(queues)
        self.concurrency = concurrency
        self._api_url = api_url
        self._token = token
        self._shutdown_grace_s = shutdown_grace_s
        self.config = TaskRunConfig(
            hostname=socket.gethostname(),
            bundles={
                name: str(Path(folder).expanduser().resolve())
                for name, folder in (bundles or {}).items()
            },
            heartbeat_s=heartbeat_s,
            log_batch_s=log_batch_s,
            memory_limit_bytes=int(task_memory_limit_mb * 2**20) if task_memory_limit_mb else None,
        )
        #: One HTTP client (one connection pool) for the poller and every task; each request
        #: carries its own token, and closing a task's ExecutionClient leaves it open.
        self._http = shared_http_client(
            api_url,
            transport=transport
            or httpx.HTTPTransport(
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=concurrency + 4)
            ),
        )
        self.zygote = ZygoteClient(
            environ=environ, run_as_user=run_as_user, readable=list(self.config.bundles.values())
        )
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="task")
        #: Sends each poll's confirmation of the starts it brought (one per poller may be out).
        self._confirmer = ThreadPoolExecutor(max_workers=POLLERS, thread_name_prefix="confirm")
        #: The confirmation each started workload in the backlog waits for, by its task token
        #: (one per hand-out, where a task instance id could come twice).
        self._confirmations: dict[str, PollStarts] = {}
        self._cond = threading.Condition()
        self._free = concurrency
        #: Workloads taken and not yet in a slot: they wait here until a task that has given its
        #: outcome exits (normally milliseconds).
        self._backlog: deque[Workload] = deque()
        self._running: set[TaskRun] = set()
        #: Running tasks that have given their outcome, and when (``time.monotonic()``): their
        #: processes are exiting, so their slots count as free for what the next poll asks
        #: (see :meth:`_soon_free`).
        self._finishing: dict[TaskRun, float] = {}
        #: Slots asked for by polls that are out.
        self._in_flight = 0
        self._stopping = threading.Event()
        self.tasks_started = 0

    def client(self, token: str) -> ExecutionClient:
        return ExecutionClient(self._api_url, token, http=self._http)

    # --- the main loop ------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Serve workloads until ``stop`` is set, then shut down; raises :class:`WorkerRefused`."""
        self.zygote.start()
        metrics.observe_slots(self.slots)
        log.info(
            "worker %s polling %s for queues %s with %d slots",
            self.name,
            self._api_url,
            ",".join(self.queues),
            self.concurrency,
        )
        refused: list[WorkerRefused] = []
        pollers = [
            threading.Thread(target=self._poll, args=(refused,), name=f"poller-{n}", daemon=True)
            for n in range(POLLERS)
        ]
        for poller in pollers:
            poller.start()
        try:
            while not stop.wait(0.2) and all(poller.is_alive() for poller in pollers):
                pass
        finally:
            self._shutdown(pollers)
        if refused:
            raise refused[0]

    def _poll(self, refused: list[WorkerRefused]) -> None:
        client = self.client(self._token)
        delay = RECONNECT_MIN_S
        outage_since: float | None = None
        try:
            while not self._stopping.is_set():
                with self._cond:
                    self._cond.wait_for(lambda: self._wanted() > 0 or self._stopping.is_set())
                    if self._stopping.is_set():
                        return
                    slots = self._wanted()
                    # Reserved while the poll is out, so that another poller asks only for the
                    # rest (and the two never start more than there are slots for).
                    self._in_flight += slots
                request = WorkloadRequest(
                    worker=self.name,
                    queues=self.queues,
                    slots=slots,
                    wait_s=POLL_WAIT_S,
                    # Every workload asked for takes a slot the moment it arrives (or the moment
                    # a task that has given its outcome exits), so the hand-out starts them all.
                    start=slots,
                    hostname=self.config.hostname,
                    pid=os.getpid(),
                )
                batch = None
                polled = time.monotonic()
                try:
                    batch = client.next_workloads(request)
                except ApiError as exc:
                    if exc.status in (401, 403):
                        refused.append(
                            WorkerRefused(
                                f"the Execution API at {self._api_url} refused the worker token: "
                                f"{exc.detail}; issue a worker token with `airlock tokens issue "
                                "--kind worker` and set [worker] token_file"
                            )
                        )
                        return
                    error: Exception = exc
                except httpx.HTTPError as exc:
                    error = exc
                finally:
                    started = self._take(batch, slots)
                    metrics.poll_done(
                        time.monotonic() - polled, None if batch is None else len(batch.workloads)
                    )
                if batch is not None:
                    if outage_since is not None:
                        log.info(
                            "the Execution API at %s answers again after %.0f s",
                            self._api_url,
                            time.monotonic() - outage_since,
                        )
                        outage_since, delay = None, RECONNECT_MIN_S
                    if started:  # the worker is stopping: they will not run here
                        self._fail_unstarted(started)
                    continue
                if outage_since is None:
                    outage_since = time.monotonic()
                log.warning(
                    "cannot get work from the Execution API at %s (%s); retrying in %.1f s",
                    self._api_url,
                    error,
                    delay,
                )
                if self._stopping.wait(delay):
                    return
                delay = min(delay * 2, RECONNECT_MAX_S)
        finally:
            client.close()

    def _take(self, batch: WorkloadBatch | None, slots: int) -> list[Workload]:
        """Release a poll's reservation and queue what it brought (``None``: it failed). The
        started workloads returned are those a stopping worker must report failed."""
        with self._cond:
            self._in_flight -= slots
            self._cond.notify_all()
            if batch is None:
                return []
            started = [w for w in batch.workloads if w.context is not None]
            if self._stopping.is_set():
                return started
            if started:
                # Confirmed now, while their processes are forked: their code waits for it.
                confirmation = PollStarts(started, self.config.hostname, os.getpid())
                for workload in started:
                    self._confirmations[workload.token] = confirmation
                self._confirmer.submit(
                    confirmation.send, lambda: self.client(self._token), self._stopping
                )
            # Started ones first: they are running on the server's books.
            self._backlog.extendleft(reversed(started))
            self._backlog.extend(w for w in batch.workloads if w.context is None)
            self._dispatch()
            return []

    def slots(self) -> tuple[int, int]:
        """Task slots (used, open) now."""
        with self._cond:
            return self.concurrency - self._free, self._free

    def _soon_free(self) -> int:
        """Free slots and slots whose task has given its outcome (its process is exiting; the
        report to the API may still be on its way). Called holding the lock."""
        # A report that takes long (the API refuses it and it is retried) stops counting: a task
        # started for its slot would wait, started, in the backlog, with no heartbeat.
        young = time.monotonic() - FINISHING_CREDIT_S
        return self._free + sum(1 for given in self._finishing.values() if given >= young)

    def _wanted(self) -> int:
        """How many workloads to ask for now (0: do not poll): the slots that are or will soon
        be free and that neither the backlog nor a poll still out will fill. Called holding
        the lock."""
        return max(0, self._soon_free() - len(self._backlog) - self._in_flight)

    def _dispatch(self) -> None:
        """Start backlog workloads in free slots. Called holding the lock."""
        while self._free > 0 and self._backlog and not self._stopping.is_set():
            workload = self._backlog.popleft()
            run = TaskRun(
                workload,
                self.config,
                self.zygote,
                self.client,
                on_outcome=self._outcome_given,
                confirmation=self._confirmations.pop(workload.token, None),
            )
            self._free -= 1
            self._running.add(run)
            self.tasks_started += 1
            self._executor.submit(self._run_task, run)
        self._cond.notify_all()

    def _outcome_given(self, run: TaskRun) -> None:
        with self._cond:
            if run in self._running:
                self._finishing[run] = time.monotonic()
                self._cond.notify_all()

    def _run_task(self, run: TaskRun) -> None:
        try:
            run.run()
        finally:
            with self._cond:
                self._running.discard(run)
                self._finishing.pop(run, None)
                self._free += 1
                self._dispatch()

    def _fail_unstarted(self, workloads: Sequence[Workload]) -> None:
        """Tasks the hand-out started for this worker that it will not run (it is stopping):
        report them failed (retried if they have retries left), as a task killed at shutdown."""
        for workload in workloads:
            TaskRun(workload, self.config, self.zygote, self.client).fail_unstarted(
                "the worker stopped before it could start the task"
            )

    # --- stopping -----------------------------------------------------------------------------
    def _shutdown(self, pollers: Sequence[threading.Thread]) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
            busy = len(self._running)
        if busy:
            log.info(
                "stopping: waiting up to %g s for %d running task(s)", self._shutdown_grace_s, busy
            )
        deadline = time.monotonic() + self._shutdown_grace_s
        # A poll still out may bring tasks the hand-out started for this worker: wait for it
        # (a long-poll ends within POLL_WAIT_S), so that they are reported rather than orphaned.
        polls_end = max(deadline, time.monotonic() + POLL_WAIT_S + POLL_MARGIN_S)
        for poller in pollers:
            poller.join(max(0.0, polls_end - time.monotonic()))
        with self._cond:
            self._cond.wait_for(lambda: not self._running, max(0.0, deadline - time.monotonic()))
            left = list(self._running)
            unstarted = [w for w in self._backlog if w.context is not None]
            if self._backlog:
                # Taken but never started: their hand-out leases give them to a worker again.
                log.warning("not starting %d task(s) taken from the queue", len(self._backlog))
                self._backlog.clear()
            self._confirmations.clear()
        self._fail_unstarted(unstarted)
        for run in left:
            run.abandon()
        self._executor.shutdown(wait=True)
        self._confirmer.shutdown(wait=True)
        self.zygote.close()
        self._http.close()
        log.info("worker %s stopped", self.name)
