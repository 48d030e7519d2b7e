"""``POST /execution/workloads/next``: a worker's long-poll for tasks to run (DESIGN §4.2).

The request is held open until work is handed out or ``min(wait_s, [execution] max_wait_s)``
has passed. While it waits it holds neither a thread nor a DB connection: it sleeps on the
process's :mod:`~airlock.execution.notifier` (work queued by this process wakes it at once) for at
most ``[execution] poll_interval_ms``, then claims again (work queued by other processes).

The claim, the start and the give-back are ``airlock.scheduling.handout``'s; this module says
what a worker receives for each task instance handed out (:class:`Workloads`): its task token,
bound to the try it runs, its run and where its DAG file is.

A worker that hangs up while tasks are being taken for it never gets them: they are given back
(:func:`~airlock.scheduling.handout.give_back`) rather than left started with no one to run them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections.abc import Sequence
from typing import Any

from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of, require_kind
from airlock.core.http.blocking import Blocking
from airlock.core.settings import ExecutionSettings
from airlock.core.telemetry import RunTrace, tracing_on
from airlock.core.tokens import TokenKind
from airlock.db import TaskInstance
from airlock.db.base import ID_LENGTH
from airlock.execution.dag_runs import dag_run_info
from airlock.execution.notifier import WorkNotifier
from airlock.execution.tables import AnyRow
from airlock.execution.task_instances import run_context
from airlock.execution.task_tokens import TaskTokens
from airlock.models.execution import TaskInstanceRef, Workload, WorkloadBatch, WorkloadRequest
from airlock.scheduling import DagCache, DagVersionNotFound, TaskNotInDag, telemetry
from airlock.scheduling.callbacks import queue_execute_callback
from airlock.scheduling.handout import HandedOut, Handout, StartAs

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
    request: Request[Any, Any, Any],
    data: JSONBody[WorkloadRequest],
    execution_settings: NamedDependency[ExecutionSettings],
    handout: NamedDependency[Handout],
    work_queued: NamedDependency[WorkNotifier],
    blocking: NamedDependency[Blocking],
) -> WorkloadBatch:
    """Claim up to ``slots`` queued tasks of ``queues``, each with its own task token; wait for
    some when none is queued."""
    _check(request, data)
    settings = execution_settings
    notifier = work_queued
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
            batch = await blocking.call(attempt, touch=touch)
            workloads = batch.workloads
            touch = False
            if workloads:
                await asyncio.sleep(0)  # let the disconnect watcher see a hang-up that came in
                if gone.done():
                    # The worker hung up while they were taken for it: no one would run them.
                    await blocking.call(handout.give_back, data.worker, batch)
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


class Workloads:
    """What a worker receives for the task instances handed out to it (``Handout``'s
    ``describe``): one workload each, in the hand-out's order, with a task token for its try."""

    def __init__(self, tokens: TaskTokens, dag_cache: DagCache) -> None:
        self._tokens = tokens
        self._dag_cache = dag_cache

    def __call__(self, session: Session, handed: Sequence[HandedOut]) -> list[Workload]:
        lengths = _map_lengths(session, [h.row for h in handed if h.row.map_index >= 0])
        return [self._workload(session, h, lengths) for h in handed]

    def _workload(
        self, session: Session, handed: HandedOut, lengths: dict[tuple[str, str, str], int]
    ) -> Workload:
        row, try_number = handed.row, handed.claim.task_try.try_number
        assert try_number is not None  # (a hand-out always knows the try it hands out)
        telemetry.task_handed_out(row.queued_at, row.queue, dt.datetime.now(dt.UTC))
        if handed.started is not None:
            queue_execute_callback(
                session,
                self._dag_cache,
                dag_id=row.dag_id,
                run_id=row.run_id,
                task_id=row.task_id,
                map_index=row.map_index,
                try_number=try_number,
                dag_version_id=row.dag_version_id,
                now=dt.datetime.now(dt.UTC),
            )
        return Workload(
            ti=TaskInstanceRef(
                id=row.id,
                dag_id=row.dag_id,
                run_id=row.run_id,
                task_id=row.task_id,
                map_index=row.map_index,
                try_number=try_number,
                max_tries=row.max_tries,
                queue=row.queue,
                pool=row.pool,
            ),
            token=self._tokens.issue(
                row.id,
                dag_id=row.dag_id,
                run_id=row.run_id,
                bundle=row.bundle_name,
                try_number=try_number,
                # (what the runner confirms: a start of the hand-out's; one it starts itself
                # needs no confirmation)
                claim_epoch=handed.claim.epoch if handed.claim.started else None,
            ),
            bundle=row.bundle_name,
            dag_rel_path=row.relative_fileloc,
            dag_version_id=row.dag_version_id,
            dag_run=dag_run_info(row),
            execution_timeout_s=self._execution_timeout(session, row),
            map_length=lengths.get((row.dag_id, row.run_id, row.task_id)),
            context=None if handed.started is None else run_context(session, handed.started, row),
            traceparent=_try_traceparent(row, try_number) if tracing_on() else None,
        )

    def _execution_timeout(self, session: Session, ti: AnyRow) -> float | None:
        try:
            return self._dag_cache.task(session, ti.dag_version_id, ti.task_id).execution_timeout
        except (TaskNotInDag, DagVersionNotFound):
            # The runner will find out for itself, and report it, when it loads the DAG file.
            return None


def _try_traceparent(row: AnyRow, try_number: int) -> str:
    """Where the try's spans go; records its queue wait (queued until handed out) on the way."""
    run = RunTrace.of(row.dag_id, row.run_id, row.trace_parent)
    run.record(
        "queued",
        row.queued_at,
        dt.datetime.now(dt.UTC),
        attributes={"airlock.task_id": row.task_id, "airlock.try_number": try_number},
    )
    return run.try_traceparent(row.task_id, row.map_index, try_number)


def _map_lengths(session: Session, mapped: Sequence[AnyRow]) -> dict[tuple[str, str, str], int]:
    """How many instances each mapped task of these runs has."""
    if not mapped:
        return {}
    keys = {(ti.dag_id, ti.run_id, ti.task_id) for ti in mapped}
    counts = session.execute(
        select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, func.count())
        .where(
            TaskInstance.dag_id.in_({k[0] for k in keys}),
            TaskInstance.run_id.in_({k[1] for k in keys}),
            TaskInstance.task_id.in_({k[2] for k in keys}),
            TaskInstance.map_index >= 0,
        )
        .group_by(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id)
    ).all()
    return {(d, r, t): n for d, r, t, n in counts if (d, r, t) in keys}
