"""Payloads of the Execution API: workloads for workers, and what a task runner may say and ask
about its own task instance (DESIGN §4.2, §5).

The contract in short:

- A worker (worker token) long-polls ``POST /execution/workloads/next`` with a
  :class:`WorkloadRequest` and receives a :class:`WorkloadBatch`. Each :class:`Workload` carries a
  *task token* bound to that one task instance (``sub`` = task instance id). The tasks a poll
  started it confirms in one ``POST /execution/workloads/confirm`` (:class:`StartConfirmation`
  → :class:`StartConfirmationReply`) before running them.
- With the task token, the runner calls, for its own task instance only:
  ``PATCH /execution/task-instances/{id}/run`` (:class:`TaskStart` → :class:`TaskRunContext`;
  queued → running), ``PUT .../heartbeat`` (:class:`Heartbeat` → :class:`HeartbeatReply`, which
  may carry a refreshed token and says whether to keep running), ``PATCH .../state``
  (:data:`TaskOutcome`), ``POST .../logs`` (:class:`LogBatch`), ``PUT .../xcoms/{key}``
  (:class:`XComValue`).
- Reads, limited to the task's own bundle: ``GET /execution/xcoms/{dag_id}/{run_id}/{task_id}/{key}``
  (query ``map_index``; → :class:`XComValue`), ``GET/PUT/DELETE /execution/variables/{key}``
  (→ :class:`VariableValue` from ``airlock.models.secrets``; PUT sends :class:`VariableWrite`),
  ``GET /execution/connections/{conn_id}``
  (:class:`ConnectionInfo`), ``GET /execution/dag-runs/{dag_id}/{run_id}`` (:class:`DagRunInfo`),
  ``GET /execution/dag-runs/{dag_id}/previous?before=<run_id>``, and
  ``POST /execution/dag-runs/{dag_id}`` (:class:`TriggerDagRun` → :class:`DagRunInfo`).
- Every state change is conditional on the expected current state: a retried call that already
  happened answers as it did (idempotent); a stale one gets 409.
- The runner identifies itself by ``hostname`` and ``pid`` in :class:`TaskStart`; heartbeats must
  send the same pair, else the reply says ``keep_running: false`` (another process owns the try).
- Without ``map_index``, pulling the XCom of a mapped task returns the list of all its instances'
  values; ``previous`` takes an optional ``state`` query to find e.g. the last successful run.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from airlock.models.states import DagRunState, TaskInstanceState
from airlock.models.types import AwareDatetime


class _Struct(msgspec.Struct, kw_only=True, frozen=True):
    pass


class WorkloadRequest(_Struct, frozen=True, kw_only=True):
    worker: str
    queues: list[str] = msgspec.field(default_factory=lambda: ["default"])
    #: How many tasks the worker can start now.
    slots: int = 1
    #: How long the server may hold the request open when nothing is queued.
    wait_s: float = 10.0
    #: How many of the tasks handed out to move to ``running`` at once, under ``hostname`` and
    #: ``pid`` (the worker's supervisor): a worker asks for this when it has a free slot for
    #: each and starts them now, saving a ``PATCH …/run`` per task. Their workloads carry
    #: ``context``; the others are claimed and started as before. Since API version 2026-11-21.
    start: int = 0
    hostname: str | None = None
    pid: int | None = None


class DagRunInfo(_Struct, frozen=True, kw_only=True):
    dag_id: str
    run_id: str
    run_type: str
    state: DagRunState
    logical_date: AwareDatetime | None = None
    data_interval_start: AwareDatetime | None = None
    data_interval_end: AwareDatetime | None = None
    run_after: AwareDatetime | None = None
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    conf: dict[str, Any] = msgspec.field(default_factory=dict)


class TaskInstanceRef(_Struct, frozen=True, kw_only=True):
    id: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    try_number: int = 1
    max_tries: int = 0
    queue: str = "default"
    pool: str = "default_pool"


class Workload(_Struct, frozen=True, kw_only=True):
    ti: TaskInstanceRef
    #: The task token: audience ``execution``, bound to ``ti.id``; refreshed by heartbeats.
    token: str
    bundle: str
    #: Where the DAG file lives inside the bundle (``relative_fileloc`` before API version
    #: 2026-11-21), and the DAG version the run uses.
    dag_rel_path: str
    dag_version_id: int
    dag_run: DagRunInfo
    execution_timeout_s: float | None = None
    #: For a mapped task: how many instances the run has (the runner picks its element).
    map_length: int | None = None
    #: Set when the hand-out already moved the task to running (``WorkloadRequest.start``): what
    #: ``PATCH …/run`` would have answered. Since API version 2026-11-21.
    context: TaskRunContext | None = None
    #: W3C ``traceparent`` of this try's span in its run's trace, when the server traces: the
    #: worker's span for the try and the task's own spans nest under it. Since 2026-12-08.
    traceparent: str | None = None


class WorkloadBatch(_Struct, frozen=True, kw_only=True):
    workloads: list[Workload]


class StartToConfirm(_Struct, frozen=True, kw_only=True):
    """One task the hand-out started for a worker: its id and the task token its workload
    carried (which names the try and the hand-out: the claim epoch)."""

    ti_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]


class StartConfirmation(_Struct, frozen=True, kw_only=True):
    """A worker (worker token) confirms, in one call, the tasks a poll's hand-out started for it
    (ADR 0020): each start holds only if confirmed before ``[execution] start_confirm_s``. Since
    API version 2026-12-08; before it, each task's first heartbeat confirmed it."""

    #: The supervisor the hand-out started them under (the poll's ``hostname`` and ``pid``).
    hostname: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    pid: Annotated[int, msgspec.Meta(gt=0, lt=2**31)]
    starts: Annotated[list[StartToConfirm], msgspec.Meta(min_length=1, max_length=1000)]


class StartConfirmed(_Struct, frozen=True, kw_only=True):
    ti_id: str
    #: True: the start holds, run the task. False: it does not (given back to the queue, or the
    #: token is not this task's): the task must not run here.
    keep_running: bool
    state: TaskInstanceState | None = None
    #: Why a start does not hold, when the token was refused.
    detail: str | None = None


class StartConfirmationReply(_Struct, frozen=True, kw_only=True):
    #: One answer per start confirmed, in the request's order.
    starts: list[StartConfirmed]


class TaskStart(_Struct, frozen=True, kw_only=True):
    hostname: str
    pid: int
    start_date: AwareDatetime


class TriggeringAssetEvent(_Struct, frozen=True, kw_only=True):
    """An asset event that triggered the task's run (ADR 0008): Airflow 3's
    ``AssetEventDagRunReference``, with the asset's URI and name flattened in."""

    uri: str
    name: str
    extra: dict[str, Any] = msgspec.field(default_factory=dict)
    timestamp: AwareDatetime
    #: The task try that emitted the event; all None for an event pushed through the Web API.
    source_dag_id: str | None = None
    source_task_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int | None = None


class TaskRunContext(_Struct, frozen=True, kw_only=True):
    """What the runner needs beyond the workload once the task is running."""

    dag_run: DagRunInfo
    try_number: int
    max_tries: int
    #: When a reschedule-mode sensor first poked (its timeout counts from here).
    first_poke_at: AwareDatetime | None = None
    #: Whether this try failing would leave the task up for retry (unless the task fails for
    #: good); since API version 2026-11-21.
    should_retry: bool = False
    #: The asset events an ``asset_triggered`` run consumed, oldest first (empty for other
    #: runs); since API version 2026-11-21.
    triggering_asset_events: list[TriggeringAssetEvent] = msgspec.field(default_factory=list)
    #: Set when the task resumes after a deferral: the method to call instead of ``execute``,
    #: and its keyword arguments (the trigger's event is ``event``). Since API version 2026-12-07.
    next_method: str | None = None
    next_kwargs: dict[str, Any] | None = None
    #: The first log batch number this start may use: past those the try's earlier part sent
    #: (a resumed try). Since API version 2026-12-07.
    log_seq_start: int = 0


class Heartbeat(_Struct, frozen=True, kw_only=True):
    hostname: str
    #: The pid the task instance is recorded under (its runner's).
    pid: int
    #: The task's own process, when the hand-out started the task under its supervisor's pid:
    #: the server records it as the task's pid, and later heartbeats name either. Since API
    #: version 2026-11-21.
    task_pid: int | None = None


class HeartbeatReply(_Struct, frozen=True, kw_only=True):
    #: False when the task was cleared, marked or timed out: the worker must kill it.
    keep_running: bool
    state: TaskInstanceState | None = None
    #: A fresh task token, when the current one is close to expiry.
    token: str | None = None


class AssetEventOut(_Struct, frozen=True, kw_only=True):
    """An asset update a successful task emits (its outlets)."""

    name: str
    uri: str
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class _Outcome(_Struct, frozen=True, kw_only=True):
    #: The process that ran the try, when the task instance was recorded under another (the
    #: hand-out started it under its supervisor's pid); since API version 2026-11-21.
    pid: int | None = None


class TaskSucceeded(_Outcome, frozen=True, kw_only=True, tag="success", tag_field="state"):
    end_date: AwareDatetime
    asset_events: list[AssetEventOut] = msgspec.field(default_factory=list)
    #: Downstream task ids a branch or short-circuit decided to skip.
    skip_task_ids: list[str] = msgspec.field(default_factory=list)


class TaskFailed(_Outcome, frozen=True, kw_only=True, tag="failed", tag_field="state"):
    end_date: AwareDatetime
    error: str | None = None
    #: True for failures that must not be retried (the task asked to fail for good).
    no_retry: bool = False
    #: The delay before the retry, when the task's retry policy chose one (else the task's
    #: ``retry_delay`` rules). Since API version 2026-12-08.
    retry_delay_s: Annotated[float, msgspec.Meta(ge=0, le=86400)] | None = None


class TaskSkipped(_Outcome, frozen=True, kw_only=True, tag="skipped", tag_field="state"):
    end_date: AwareDatetime


class TaskRescheduled(
    _Outcome, frozen=True, kw_only=True, tag="up_for_reschedule", tag_field="state"
):
    reschedule_date: AwareDatetime
    end_date: AwareDatetime


class TaskDeferred(_Outcome, frozen=True, kw_only=True, tag="deferred", tag_field="state"):
    trigger_classpath: str
    trigger_kwargs: dict[str, Any] = msgspec.field(default_factory=dict)
    next_method: str = "execute_complete"
    next_kwargs: dict[str, Any] = msgspec.field(default_factory=dict)
    timeout_s: float | None = None


TaskOutcome = TaskSucceeded | TaskFailed | TaskSkipped | TaskRescheduled | TaskDeferred


class TaskStateReply(_Struct, frozen=True, kw_only=True):
    """The state the task instance ended in (``failed`` may have become ``up_for_retry``)."""

    state: TaskInstanceState


class LogBatch(_Struct, frozen=True, kw_only=True):
    try_number: int
    #: Sequence number of this batch within the try; a batch sent twice is stored once.
    seq: Annotated[int, msgspec.Meta(ge=0)]
    lines: list[str]


class XComValue(_Struct, frozen=True, kw_only=True):
    key: str
    #: Any JSON value.
    value: Any = None


class VariableWrite(_Struct, frozen=True, kw_only=True):
    """A variable a task sets; it belongs to the task's bundle unless it already exists globally."""

    value: str
    #: Kept as it was when not given.
    description: str | None = None


class TriggerDagRun(_Struct, frozen=True, kw_only=True):
    run_id: str | None = None
    conf: dict[str, Any] = msgspec.field(default_factory=dict)
    logical_date: AwareDatetime | None = None
    reset_dag_run: bool = False


class StateValue(_Struct, frozen=True, kw_only=True):
    """One key of a task's or an asset's state store (since API version 2026-12-08)."""

    key: str
    #: Any JSON value.
    value: Any = None
    #: When the key stops being readable; None: never.
    expires_at: AwareDatetime | None = None


class StateWrite(_Struct, frozen=True, kw_only=True):
    """Set one key of a state store. ``retention_s``: how long the key lives, counted from the
    server's clock when it stores the write; None keeps it until it is deleted."""

    value: Any
    retention_s: Annotated[float, msgspec.Meta(gt=0)] | None = None


class AssetEventList(_Struct, frozen=True, kw_only=True):
    """An inlet asset's latest events, oldest first (since API version 2026-12-08)."""

    events: list[TriggeringAssetEvent] = msgspec.field(default_factory=list)


class TaskStateList(_Struct, frozen=True, kw_only=True):
    """The states of one task's instances in a run, by map index (one entry when not mapped;
    since API version 2026-12-08)."""

    states: list[TaskInstanceState | None] = msgspec.field(default_factory=list)
