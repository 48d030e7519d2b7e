"""The channel between the triggerer and its trigger runner (a supervised child).

Frames and messages are those of every supervised child
(:mod:`airlock.sdk.execution_time.supervised`), over the runner's stdin and a private copy of
its stdout. The triggerer sends :class:`RunTrigger` for each trigger it leased and
:class:`StopTrigger` when a trigger must stop: ``cleanup`` true when the trigger ended or its
task stopped waiting, false when its lease moved to another triggerer (the other one now
watches the same external job; cleaning up here would undo its wait). The runner answers with
:class:`TriggerFiredMessage` (the first event) or :class:`TriggerFailedMessage`, and reports
:class:`LoopBlocked` when a trigger held its event loop too long, and :class:`LoopLag` every
``LAG_PROBE_S``. The runner never holds the token: it reports, and the triggerer decides.
"""

from __future__ import annotations

from typing import Any

import msgspec

from airlock.sdk.execution_time.supervised import Message

#: A trigger's kwargs and an event's payload travel in one frame.
MAX_FRAME = 16 * 1024 * 1024


class RunTrigger(Message, frozen=True, tag="run"):
    id: int
    classpath: str
    kwargs: dict[str, Any]
    bundle_root: str
    dag_rel_path: str
    #: ``dag.task[map_index]``, for log lines.
    label: str


class StopTrigger(Message, frozen=True, tag="stop"):
    id: int
    cleanup: bool


class TriggerFiredMessage(Message, frozen=True, tag="fired"):
    id: int
    payload: Any
    #: ``resume``, or ``success`` / ``failed`` for a TaskSuccessEvent / TaskFailedEvent.
    outcome: str = "resume"


class TriggerFailedMessage(Message, frozen=True, tag="failed"):
    id: int
    error: str
    traceback: str | None = None


class LoopBlocked(Message, frozen=True, tag="blocked"):
    """A trigger held the event loop for ``seconds`` (still holding it when ``ongoing``)."""

    id: int
    label: str
    classpath: str
    seconds: float
    ongoing: bool = False


class LoopLag(Message, frozen=True, tag="lag"):
    """How late the loop ran a callback due now: the wait every trigger's next step had."""

    seconds: float


ToRunner = RunTrigger | StopTrigger
FromRunner = TriggerFiredMessage | TriggerFailedMessage | LoopBlocked | LoopLag

to_runner_decoder = msgspec.msgpack.Decoder(ToRunner)
from_runner_decoder = msgspec.msgpack.Decoder(FromRunner)
