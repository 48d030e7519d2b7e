"""``POST /execution/workloads/next``: a worker's long-poll for tasks to run (DESIGN §4.2).

The request is held open until work is handed out or ``min(wait_s, [execution] max_wait_s)``
has passed. While it waits it holds neither a thread nor a DB connection: it sleeps on the
process's :mod:`~airlock.execution.notifier` (work queued by this process wakes it at once) for at
most ``[execution] poll_interval_ms``, then claims again (work queued by other processes).

A worker that hangs up while tasks are being taken for it never gets them: they are given back
(:func:`~airlock.execution.handout.give_back`) rather than left started with no one to run them.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

from litestar import Request, post
from litestar.datastructures import State
from litestar.params import JSONBody

from airlock.core.http import Problem, claims_of, require_kind
from airlock.core.http.blocking import Blocking
from airlock.core.settings import ExecutionSettings
from airlock.core.tokens import TokenKind
from airlock.db.base import ID_LENGTH
from airlock.execution.handout import Handout, StartAs
from airlock.execution.notifier import WorkNotifier
from airlock.models.execution import WorkloadBatch, WorkloadRequest

MAX_SLOTS = 1000
#: ``task_instance.hostname``'s width.
MAX_HOSTNAME = 1000


def _check(request: Request[Any, Any, Any], data: WorkloadRequest) -> None:
    if not 1 <= data.slots <= MAX_SLOTS:
        raise Problem(
            422, f"slots must be between 1 and {MAX_SLOTS}, got {data.slots}", slug="invalid-body"
        )
    if data.wait_s < 0:
        raise Problem(422, f"wait_s must not be negative, got {data.wait_s}", slug="invalid-body")
    if not data.queues or any(not q or len(q) > ID_LENGTH for q in data.queues):
        raise Problem(
            422, f"queues must name at least one queue, got {data.queues}", slug="invalid-body"
        )
    if not 0 <= data.start <= data.slots:
        raise Problem(
            422,
            f"start must be between 0 and slots ({data.slots}), got {data.start}",
            slug="invalid-body",
        )
    if data.start and (
        not data.hostname
        or len(data.hostname) > MAX_HOSTNAME
        or data.pid is None
        or not 0 < data.pid < 2**31
    ):
        raise Problem(
            422,
            "a request that starts tasks (start > 0) must give the hostname (1 to "
            f"{MAX_HOSTNAME} characters) and the pid (a positive 32-bit number) that run them",
            slug="invalid-body",
        )
    if not data.worker or len(data.worker) > ID_LENGTH:
        raise Problem(
            422, f"worker must be a name of 1 to {ID_LENGTH} characters", slug="invalid-body"
        )
    allowed = claims_of(request).queues
    if allowed is not None and not set(data.queues) <= set(allowed):
        raise Problem(
            403,
            f"this worker token serves queues {allowed}, not {sorted(set(data.queues) - set(allowed))}",
            slug="forbidden-queue",
        )


@post(
    "/workloads/next",
    operation_id="NextWorkloads",
    guards=[require_kind(TokenKind.WORKER)],
    status_code=200,
    tags=["workloads"],
)
async def next_workloads(
    request: Request[Any, Any, Any], data: JSONBody[WorkloadRequest], state: State
) -> WorkloadBatch:
    """Claim up to ``slots`` queued tasks of ``queues``, each with its own task token; wait for
    some when none is queued."""
    _check(request, data)
    settings: ExecutionSettings = state["settings"].execution
    handout: Handout = state["handout"]
    notifier: WorkNotifier = state["work_queued"]
    blocking: Blocking = state["blocking"]
    deadline = time.monotonic() + min(data.wait_s, settings.max_wait_s)
    start = (
        StartAs(data.start, data.hostname, data.pid)
        if data.start and data.hostname and data.pid is not None
        else None
    )
    attempt = functools.partial(handout.attempt, data.worker, data.queues, data.slots, start=start)
    gone = asyncio.ensure_future(_disconnect(request))
    touch = True
    try:
        while not gone.done():
            seen = notifier.generation
            workloads = await blocking.call(attempt, touch=touch)
            touch = False
            if workloads:
                await asyncio.sleep(0)  # let the disconnect watcher see a hang-up that came in
                if gone.done():
                    # The worker hung up while they were taken for it: no one would run them.
                    await blocking.call(handout.give_back, data.worker, workloads)
                    notifier.notify()
                    return WorkloadBatch(workloads=[])
            remaining = deadline - time.monotonic()
            if workloads or remaining <= 0:
                return WorkloadBatch(workloads=workloads)
            waiting = asyncio.ensure_future(
                notifier.wait(seen, min(settings.poll_interval_ms / 1000, remaining))
            )
            await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
        # The worker hung up (it died or gave up): claiming for it now would only park tasks
        # until their lease ran out.
        return WorkloadBatch(workloads=[])
    finally:
        gone.cancel()


async def _disconnect(request: Request[Any, Any, Any]) -> None:
    """Return when the client closes the connection (the body has already been read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
