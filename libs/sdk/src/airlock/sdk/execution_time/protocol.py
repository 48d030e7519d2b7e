"""The channel between a worker's supervisor and one running task process.

Why a channel at all: the supervisor holds the task's token and makes every Execution API call;
the task process holds no token, no URL and no credentials of any kind. When task code needs the
API (``Variable.get``, ``ti.xcom_pull``, ``TriggerDagRunOperator`` …) the task runner sends a
request over this channel and the supervisor decides, calls the API with the token it keeps, and
answers with the result only.

Transport: one Unix stream socket pair per task, made by the supervisor; the task's end reaches
the task process through the zygote's fork. Each frame is a 4-byte big-endian length then one
msgpack message. The conversation:

1. supervisor → task: :class:`StartTask` (what to load; a per-task ``nonce``). It is written
   before the task process exists, so the task starts loading its DAG file at once.
2. task → supervisor: :class:`Hello` echoing the nonce. The supervisor serves nothing before a
   correct ``Hello``: the process on the other end is the one this task was forked into.
3. supervisor → task: :class:`RunTask` once the API moved the task to ``running`` (or
   :class:`Abort` if it refused: the task exits without running).
4. task → supervisor: requests (:class:`GetVariable` …), each answered by one reply
   (:class:`VariableReply` … or :class:`ErrorReply`), then :class:`TaskDone` with the outcome.

Messages are tagged ``msgspec`` Structs; every field added later must have a default, so an older
runner and a newer supervisor keep understanding each other.
"""

from __future__ import annotations

import datetime as dt
import struct
from typing import Any, BinaryIO

import msgspec

from airlock.models.execution import (
    DagRunInfo,
    TaskInstanceRef,
    TaskOutcome,
    TaskRunContext,
)
from airlock.models.secrets import ConnectionInfo


class _Message(msgspec.Struct, frozen=True, array_like=True, tag_field="kind"):
    pass


# --- supervisor → task ------------------------------------------------------------------------


class StartTask(_Message, frozen=True, tag="start"):
    nonce: str
    ti: TaskInstanceRef
    bundle: str
    #: The bundle's folder on this machine, and the DAG file's path inside it.
    bundle_root: str
    relative_fileloc: str
    dag_run: DagRunInfo
    map_length: int | None = None


class RunTask(_Message, frozen=True, tag="run"):
    context: TaskRunContext


class Abort(_Message, frozen=True, tag="abort"):
    reason: str


class VariableReply(_Message, frozen=True, tag="variable"):
    value: str | None


class ConnectionReply(_Message, frozen=True, tag="connection"):
    connection: ConnectionInfo | None


class XComReply(_Message, frozen=True, tag="xcom"):
    value: Any = None


class DagRunReply(_Message, frozen=True, tag="dag_run"):
    run_id: str | None = None
    state: str | None = None


class Ack(_Message, frozen=True, tag="ack"):
    pass


class ErrorReply(_Message, frozen=True, tag="error"):
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
    | Ack
    | ErrorReply
)


# --- task → supervisor ------------------------------------------------------------------------


class Hello(_Message, frozen=True, tag="hello"):
    nonce: str


class GetVariable(_Message, frozen=True, tag="get_variable"):
    key: str


class SetVariable(_Message, frozen=True, tag="set_variable"):
    key: str
    value: str
    description: str | None = None


class DeleteVariable(_Message, frozen=True, tag="delete_variable"):
    key: str


class GetConnection(_Message, frozen=True, tag="get_connection"):
    conn_id: str


class PushXCom(_Message, frozen=True, tag="push_xcom"):
    """Always for the task's own task instance: its token may write nothing else."""

    key: str
    value: Any = None


class PullXCom(_Message, frozen=True, tag="pull_xcom"):
    dag_id: str
    run_id: str
    task_id: str
    key: str
    map_index: int | None = None


class TriggerRun(_Message, frozen=True, tag="trigger_run"):
    dag_id: str
    run_id: str
    conf: dict[str, Any] = msgspec.field(default_factory=dict)
    logical_date: dt.datetime | None = None
    reset_dag_run: bool = False


class GetDagRunState(_Message, frozen=True, tag="get_dag_run_state"):
    dag_id: str
    run_id: str


class TaskDone(_Message, frozen=True, tag="done"):
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
)

# --- frames -----------------------------------------------------------------------------------

_LENGTH = struct.Struct(">I")
HEADER_SIZE = _LENGTH.size
#: Largest frame either side accepts: XCom values travel in frames, and the API caps them lower.
MAX_FRAME = 64 * 1024 * 1024

to_task_decoder = msgspec.msgpack.Decoder(ToTask)
from_task_decoder = msgspec.msgpack.Decoder(FromTask)
_encoder = msgspec.msgpack.Encoder()


class FrameError(ValueError):
    """The peer sent something that is not a frame of this protocol."""


def encode_frame(message: msgspec.Struct) -> bytes:
    payload = _encoder.encode(message)
    if len(payload) > MAX_FRAME:
        raise FrameError(
            f"a {type(message).__name__} of {len(payload)} bytes is over the "
            f"{MAX_FRAME}-byte frame limit"
        )
    return _LENGTH.pack(len(payload)) + payload


def read_frame(stream: BinaryIO) -> bytes:
    """One frame's payload from a blocking stream; ``EOFError`` when the peer is gone."""
    header = _read_exact(stream, HEADER_SIZE)
    (size,) = _LENGTH.unpack(header)
    if size > MAX_FRAME:
        raise FrameError(f"frame of {size} bytes is over the {MAX_FRAME}-byte limit")
    return _read_exact(stream, size)


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) < size:
        # A buffered reader returns short only at end of file.
        raise EOFError("the peer closed the channel")
    return data


class FrameBuffer:
    """Cuts frames out of bytes that arrive in pieces (the supervisor reads without blocking)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= HEADER_SIZE:
            (size,) = _LENGTH.unpack_from(self._buffer)
            if size > MAX_FRAME:
                raise FrameError(f"frame of {size} bytes is over the {MAX_FRAME}-byte limit")
            end = HEADER_SIZE + size
            if len(self._buffer) < end:
                break
            frames.append(bytes(self._buffer[HEADER_SIZE:end]))
            del self._buffer[:end]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still waiting for the rest."""
        return len(self._buffer)
