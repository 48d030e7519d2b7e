"""The channel between the callback processor and its child processes.

Frames and messages are those of every supervised child
(:mod:`airlock.sdk.execution_time.supervised`), over the child's stdin and a private copy of its
stdout. A child says ``ChildReady`` once it has started; the processor then sends
``RunCallback``; while it runs, the callback may ask ``GetVariable`` / ``GetConnection`` of its
own bundle and the processor answers; the child ends with ``CallbackFinished``. The child never holds the service token: it asks, and the processor
decides.
"""

from __future__ import annotations

from typing import Any

import msgspec

# Variable and connection lookups are the task channel's own messages (lookup_comms.py).
from airlock.sdk.execution_time.protocol import (
    ConnectionReply,
    GetConnection,
    GetVariable,
    VariableReply,
)
from airlock.sdk.execution_time.supervised import Message

MAX_FRAME = 4 * 1024 * 1024


class RunCallback(Message, frozen=True, tag="run"):
    path: str
    bundle_root: str
    callback_kind: str
    dag_id: str
    run_id: str
    task_id: str | None = None
    map_index: int = -1
    try_number: int | None = None
    payload: dict[str, Any] = msgspec.field(default_factory=dict)
    idempotency_key: str = ""
    attempt: int = 1
    max_attempts: int = 1


class ChildReady(Message, frozen=True, tag="ready"):
    """Sent once by a child when its imports are done: a callback's timeout starts only then,
    so an interpreter's start-up (children start when a callback first needs one) is not
    counted against the callback."""


class CallbackFinished(Message, frozen=True, tag="finished"):
    #: None: every callable of the event ran to the end; else why one did not.
    error: str | None
    log: str = ""
    #: The child's state can no longer be trusted (threads left, sys.exit): replace it.
    must_restart: bool = False


ToChild = RunCallback | VariableReply | ConnectionReply
FromChild = ChildReady | GetVariable | GetConnection | CallbackFinished

to_child_decoder = msgspec.msgpack.Decoder(ToChild)
from_child_decoder = msgspec.msgpack.Decoder(FromChild)
