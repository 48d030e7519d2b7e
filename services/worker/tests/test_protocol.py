"""The task channel's frames: length-prefixed msgpack, cut correctly however bytes arrive."""

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
from airlock.sdk.execution_time import protocol
from airlock.sdk.execution_time.protocol import (
    MAX_FRAME,
    ErrorReply,
    FrameBuffer,
    FrameError,
    GetVariable,
    Hello,
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


def test_a_frame_is_a_big_endian_length_then_msgpack() -> None:
    frame = encode_frame(Hello(nonce="abc"))
    (size,) = struct.unpack(">I", frame[:4])
    assert size == len(frame) - 4
    assert msgspec.msgpack.decode(frame[4:]) == ["hello", "abc"]


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


def test_frame_buffer_cuts_frames_from_any_split() -> None:
    messages = [GetVariable(key="a" * 300), ErrorReply(message="no"), Hello(nonce="n")]
    data = b"".join(encode_frame(m) for m in messages)
    for chunk in (1, 3, 7, 64, len(data)):
        buffer = FrameBuffer()
        frames: list[bytes] = []
        for start in range(0, len(data), chunk):
            frames += buffer.feed(data[start : start + chunk])
        assert [msgspec.msgpack.decode(f)[0] for f in frames] == ["get_variable", "error", "hello"]
        assert buffer.pending == 0


def test_an_announced_oversized_frame_is_refused_before_it_is_read() -> None:
    header = struct.pack(">I", MAX_FRAME + 1)
    with pytest.raises(FrameError, match="over the"):
        FrameBuffer().feed(header)
    with pytest.raises(FrameError, match="over the"):
        read_frame(io.BytesIO(header))


def test_a_message_too_large_to_send_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "MAX_FRAME", 100)
    with pytest.raises(FrameError, match="PushXCom"):
        encode_frame(PushXCom(key="k", value="x" * 200))


def test_a_truncated_stream_is_end_of_file() -> None:
    frame = encode_frame(Hello(nonce="abc"))
    with pytest.raises(EOFError):
        read_frame(io.BufferedReader(io.BytesIO(frame[:-1])))  # type: ignore[arg-type]


def test_unknown_message_kinds_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        from_task_decoder.decode(msgspec.msgpack.encode(["steal_token"]))
