"""The channel between a worker's supervisor and one running task process.

Why a channel at all: the supervisor holds the task's token and makes every Execution API call;
the task process holds no token, no URL and no credentials of any kind. When task code needs the
API (``Variable.get``, ``ti.xcom_pull``, ``TriggerDagRunOperator`` …) the task runner sends a
request over this channel and the supervisor decides, calls the API with the token it keeps, and
answers with the result only.

Transport: one Unix stream socket pair per task, made by the supervisor; the task's end reaches
the task process through the zygote's fork. Frames and messages are those of every supervised
child (:mod:`airlock.sdk.execution_time.supervised`); the framing names are re-exported here for
the two ends of this channel. The conversation:

1. supervisor → task: :class:`StartTask` (what to load; a per-task ``nonce``). It is written
   before the task process exists, so the task starts loading its DAG file at once.
2. task → supervisor: :class:`Hello` echoing the nonce. The supervisor serves nothing before a
   correct ``Hello``: the process on the other end is the one this task was forked into.
3. supervisor → task: :class:`RunTask` once the API moved the task to ``running`` (or
   :class:`Abort` if it refused: the task exits without running).
4. task → supervisor: requests (:class:`GetVariable` …), each answered by one reply
   (:class:`VariableReply` … or :class:`ErrorReply`), then :class:`TaskDone` with the outcome.

Every field added to a message later must have a default, so an older runner and a newer
supervisor keep understanding each other.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from airlock.models.execution import (
    DagRunInfo,
    TaskInstanceRef,
    TaskOutcome,
    TaskRunContext,
    TriggeringAssetEvent,
)
from airlock.models.secrets import ConnectionInfo

# The task channel uses the default frame limit; its two ends import the framing from here.
from airlock.sdk.execution_time.supervised import (  # noqa: F401
    HEADER_SIZE,
    MAX_FRAME,
    FrameBuffer,
    FrameError,
    Message,
    encode_frame,
    read_frame,
)

# --- supervisor → task ------------------------------------------------------------------------


class StartTask(Message, frozen=True, tag="start"):
    nonce: str
    ti: TaskInstanceRef
    bundle: str
    #: The bundle's folder on this machine, and the DAG file's path inside it.
    bundle_root: str
    relative_fileloc: str
    dag_run: DagRunInfo
    map_length: int | None = None
    #: W3C ``traceparent`` of the worker's span for this try: the task's spans nest under it.
    traceparent: str | None = None


class RunTask(Message, frozen=True, tag="run"):
    context: TaskRunContext


class Abort(Message, frozen=True, tag="abort"):
    reason: str


class VariableReply(Message, frozen=True, tag="variable"):
    value: str | None


class ConnectionReply(Message, frozen=True, tag="connection"):
    connection: ConnectionInfo | None


class XComReply(Message, frozen=True, tag="xcom"):
    value: Any = None


class DagRunReply(Message, frozen=True, tag="dag_run"):
    run_id: str | None = None
    state: str | None = None


class StateReply(Message, frozen=True, tag="state"):
    found: bool = False
    value: Any = None


class AssetEventsReply(Message, frozen=True, tag="asset_events"):
    events: list[TriggeringAssetEvent] = msgspec.field(default_factory=list)


class TaskStatesReply(Message, frozen=True, tag="task_states"):
    states: list[str | None] = msgspec.field(default_factory=list)


class Ack(Message, frozen=True, tag="ack"):
    pass


class ErrorReply(Message, frozen=True, tag="error"):
    message: str
    #: ``not_found``, ``already_exists``, ``refused`` (the API said no) or ``unavailable``.
    reason: str = "refused"


ToTask = (
    StartTask
    | RunTask
    | Abort
    | VariableReply
    | ConnectionReply
    | XComReply
    | DagRunReply
    | StateReply
    | AssetEventsReply
    | TaskStatesReply
    | Ack
    | ErrorReply
)


# --- task → supervisor ------------------------------------------------------------------------


class Hello(Message, frozen=True, tag="hello"):
    nonce: str


class GetVariable(Message, frozen=True, tag="get_variable"):
    key: str


class SetVariable(Message, frozen=True, tag="set_variable"):
    key: str
    value: str
    description: str | None = None


class DeleteVariable(Message, frozen=True, tag="delete_variable"):
    key: str


class GetConnection(Message, frozen=True, tag="get_connection"):
    conn_id: str


class PushXCom(Message, frozen=True, tag="push_xcom"):
    """Always for the task's own task instance: its token may write nothing else."""

    key: str
    value: Any = None


class PullXCom(Message, frozen=True, tag="pull_xcom"):
    dag_id: str
    run_id: str
    task_id: str
    key: str
    map_index: int | None = None


class TriggerRun(Message, frozen=True, tag="trigger_run"):
    dag_id: str
    run_id: str
    conf: dict[str, Any] = msgspec.field(default_factory=dict)
    logical_date: dt.datetime | None = None
    reset_dag_run: bool = False


class GetDagRunState(Message, frozen=True, tag="get_dag_run_state"):
    dag_id: str
    run_id: str


class GetState(Message, frozen=True, tag="get_state"):
    """A key of the task's own state store, or (``asset_uri``) of a declared asset's."""

    key: str
    asset_uri: str | None = None


class SetState(Message, frozen=True, tag="set_state"):
    key: str
    value: Any = None
    #: None: never expires.
    retention_s: float | None = None
    asset_uri: str | None = None


class DeleteState(Message, frozen=True, tag="delete_state"):
    """Delete ``key``, or every key of the store when it is None."""

    key: str | None = None
    asset_uri: str | None = None


class GetAssetEvents(Message, frozen=True, tag="get_asset_events"):
    """The latest events of one of the task's declared assets (``inlet_events``)."""

    uri: str
    limit: int = 100


class FindDagRun(Message, frozen=True, tag="find_dag_run"):
    """The run of a DAG of the task's bundle for a logical date (``ExternalTaskSensor``)."""

    dag_id: str
    logical_date: dt.datetime


class GetTaskStates(Message, frozen=True, tag="get_task_states"):
    dag_id: str
    run_id: str
    task_id: str


class TaskDone(Message, frozen=True, tag="done"):
    outcome: TaskOutcome


FromTask = (
    Hello
    | GetVariable
    | SetVariable
    | DeleteVariable
    | GetConnection
    | PushXCom
    | PullXCom
    | TriggerRun
    | GetDagRunState
    | GetState
    | SetState
    | DeleteState
    | GetAssetEvents
    | FindDagRun
    | GetTaskStates
    | TaskDone
)

#: A request the task makes and the supervisor answers (everything but Hello and TaskDone).
TaskRequest = (
    GetVariable
    | SetVariable
    | DeleteVariable
    | GetConnection
    | PushXCom
    | PullXCom
    | TriggerRun
    | GetDagRunState
    | GetState
    | SetState
    | DeleteState
    | GetAssetEvents
    | FindDagRun
    | GetTaskStates
)

to_task_decoder = msgspec.msgpack.Decoder(ToTask)
from_task_decoder = msgspec.msgpack.Decoder(FromTask)
