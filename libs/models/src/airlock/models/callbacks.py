"""Payloads of callbacks: what the callback processor leases and reports through the Internal
API, and what the Web API shows of each callback request (DESIGN §4.4).

A callback request is leased under an *epoch* (the fencing token of
``airlock.scheduling.leases``): a processor reports its outcome with the epoch it leased, and a
report whose lease has since moved on (it expired and another processor took the callback) is
refused, so a late report can never overwrite a newer attempt's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from airlock.models.types import AwareDatetime

#: What queues a callback request: a run's or a task instance's state change, a missed deadline.
CallbackKind = Literal[
    "dag_success",
    "dag_failure",
    "task_execute",
    "task_success",
    "task_failure",
    "task_retry",
    "task_skipped",
    "deadline",
]
CallbackState = Literal["queued", "running", "retrying", "success", "dead"]

_Holder = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
#: Largest log a report carries per callback; the processor keeps the end of a longer one.
MAX_LOG_CHARS = 64_000


class CallbackLeaseRequest(msgspec.Struct, kw_only=True, frozen=True):
    """Lease up to ``limit`` due callbacks of the token's bundles for ``lease_s`` seconds."""

    holder: _Holder
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 16
    lease_s: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 60.0


class LeasedCallback(msgspec.Struct, kw_only=True, frozen=True):
    """One callback to run, and where its code is: the DAG file of the DAG version that queued
    it (``relative_fileloc`` in ``bundle``)."""

    id: int
    epoch: int
    #: 1 for the first attempt; a callback sees it as ``context["callback_attempt"]``.
    attempt: int
    max_attempts: int
    #: The same for every attempt of this callback (``context["idempotency_key"]``).
    idempotency_key: str
    kind: CallbackKind
    bundle: str
    dag_id: str
    run_id: str
    relative_fileloc: str | None = None
    task_id: str | None = None
    map_index: int = -1
    try_number: int | None = None
    dag_version_id: int | None = None
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    queued_at: AwareDatetime


class CallbackLease(msgspec.Struct, kw_only=True, frozen=True):
    callbacks: list[LeasedCallback]


class CallbackOutcome(msgspec.Struct, kw_only=True, frozen=True):
    """How one leased attempt ended: ``error`` None means it ran to the end."""

    id: int
    epoch: int
    error: Annotated[str, msgspec.Meta(max_length=MAX_LOG_CHARS)] | None = None
    log: Annotated[str, msgspec.Meta(max_length=MAX_LOG_CHARS)] = ""


class CallbackReport(msgspec.Struct, kw_only=True, frozen=True):
    holder: _Holder
    outcomes: Annotated[list[CallbackOutcome], msgspec.Meta(max_length=500)]


class CallbackReportResult(msgspec.Struct, kw_only=True, frozen=True):
    """Which outcomes were recorded, and which were refused because their lease had moved on."""

    recorded: list[int]
    fenced: list[int] = msgspec.field(default_factory=list)
    #: Of the recorded failures, those that used their last attempt.
    dead_lettered: list[int] = msgspec.field(default_factory=list)


class CallbackInfo(msgspec.Struct, kw_only=True, frozen=True):
    """A callback request as the Web API shows it."""

    id: int
    kind: CallbackKind
    state: CallbackState
    bundle: str
    dag_id: str
    run_id: str
    task_id: str | None = None
    map_index: int = -1
    try_number: int | None = None
    attempts: int
    max_attempts: int
    queued_at: AwareDatetime
    first_started_at: AwareDatetime | None = None
    done_at: AwareDatetime | None = None
    next_attempt_at: AwareDatetime | None = None
    last_error: str | None = None
    log: str | None = None


class CallbackList(msgspec.Struct, kw_only=True, frozen=True):
    callbacks: list[CallbackInfo]
    total_entries: int


class CallbackCounters(msgspec.Struct, kw_only=True, frozen=True):
    """Metrics-ready counters of the callback queue."""

    queued: int
    running: int
    retrying: int
    succeeded: int
    dead_lettered: int
    #: Dispatch latency (queued → first started) of callbacks started in the last hour.
    dispatch_p50_ms: float | None = None
    dispatch_p99_ms: float | None = None


__all__ = [
    "MAX_LOG_CHARS",
    "CallbackCounters",
    "CallbackInfo",
    "CallbackKind",
    "CallbackLease",
    "CallbackLeaseRequest",
    "CallbackList",
    "CallbackOutcome",
    "CallbackReport",
    "CallbackReportResult",
    "CallbackState",
    "LeasedCallback",
]
