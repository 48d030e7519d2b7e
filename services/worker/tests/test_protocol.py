"""The task channel's message families: every outcome, request and reply decodes to its own type
(the frames themselves are the supervised children's, tested in the SDK)."""

from __future__ import annotations

import datetime as dt
import io
import struct

import msgspec
import pytest

from airlock.models.execution import (
    AssetEventOut,
    TaskFailed,
    TaskRescheduled,
    TaskSkipped,
    TaskSucceeded,
)
from airlock.sdk.execution_time.protocol import (
    MAX_FRAME,
    FrameBuffer,
    FrameError,
    GetVariable,
    PullXCom,
    PushXCom,
    TaskDone,
    XComReply,
    encode_frame,
    from_task_decoder,
    read_frame,
    to_task_decoder,
)

NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
OUTCOMES = [
    TaskSucceeded(
        end_date=NOW,
        skip_task_ids=["b"],
        asset_events=[AssetEventOut(name="a", uri="s3://a", extra={"n": 1})],
    ),
    TaskFailed(end_date=NOW, error="ValueError: x", no_retry=True),
    TaskSkipped(end_date=NOW),
    TaskRescheduled(end_date=NOW, reschedule_date=NOW + dt.timedelta(minutes=5)),
]


@pytest.mark.parametrize("outcome", OUTCOMES, ids=lambda o: type(o).__name__)
def test_every_outcome_round_trips(outcome: object) -> None:
    frame = encode_frame(TaskDone(outcome=outcome))  # type: ignore[arg-type]
    assert from_task_decoder.decode(read_frame(io.BytesIO(frame))) == TaskDone(outcome=outcome)  # type: ignore[arg-type]


def test_requests_and_replies_decode_to_their_own_types() -> None:
    messages = [
        GetVariable(key="k"),
        PushXCom(key="return_value", value={"a": [1, 2.5, None, "x"]}),
        PullXCom(dag_id="d", run_id="r", task_id="t", key="k", map_index=None),
    ]
    stream = io.BytesIO(b"".join(encode_frame(m) for m in messages))
    assert [from_task_decoder.decode(read_frame(stream)) for _ in messages] == messages
    reply = XComReply(value=[1, {"b": True}])
    assert to_task_decoder.decode(read_frame(io.BytesIO(encode_frame(reply)))) == reply


def test_unknown_message_kinds_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        from_task_decoder.decode(msgspec.msgpack.encode(["steal_token"]))


def test_the_task_channel_refuses_a_frame_over_its_limit() -> None:
    header = struct.pack(">I", MAX_FRAME + 1)
    with pytest.raises(FrameError, match="over the"):
        FrameBuffer().feed(header)
    with pytest.raises(FrameError, match="over the"):
        read_frame(io.BytesIO(header))
