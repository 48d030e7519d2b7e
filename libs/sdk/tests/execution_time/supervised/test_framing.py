"""The one frame format of every supervised child's channel: length-prefixed msgpack of tagged
messages, cut correctly however bytes arrive, and refused with a clear error when a peer floods
or sends garbage — also from a real child process."""

from __future__ import annotations

import io
import os
import struct
import threading
from collections.abc import Callable

import msgspec
import pytest

from airlock.sdk.execution_time.supervised import (
    HEADER_SIZE,
    Child,
    FrameBuffer,
    FrameError,
    Message,
    decode_message,
    encode_frame,
    frame_payload,
    read_frame,
    write_frame,
)


class Ask(Message, frozen=True, tag="ask"):
    key: str


class Answer(Message, frozen=True, tag="answer"):
    value: str | None = None
    #: Added "later": an Answer without it still decodes.
    attempt: int = 1


Family = Ask | Answer
decoder = msgspec.msgpack.Decoder(Family)


def test_a_frame_is_a_big_endian_length_then_a_tagged_msgpack_array() -> None:
    frame = encode_frame(Ask(key="k"))
    (size,) = struct.unpack(">I", frame[:HEADER_SIZE])
    assert size == len(frame) - HEADER_SIZE
    assert msgspec.msgpack.decode(frame[HEADER_SIZE:]) == ["ask", "k"]


def test_messages_round_trip_through_a_stream_and_a_record() -> None:
    messages = [Ask(key="a"), Answer(value="x", attempt=2), Answer()]
    stream = io.BytesIO(b"".join(encode_frame(m) for m in messages))
    assert [decoder.decode(read_frame(stream)) for _ in messages] == messages
    for message in messages:
        assert decoder.decode(frame_payload(encode_frame(message))) == message


def test_a_field_added_with_a_default_keeps_old_messages_decoding() -> None:
    old = msgspec.msgpack.encode(["answer", "x"])
    assert decoder.decode(old) == Answer(value="x", attempt=1)


def test_write_frame_writes_all_of_it_to_an_unbuffered_pipe() -> None:
    read_end, write_end = os.pipe()
    big = Answer(value="x" * 1_000_000)  # larger than a pipe's buffer: written in pieces
    with os.fdopen(write_end, "wb", buffering=0) as writer:
        thread = threading.Thread(target=write_frame, args=(writer, big))
        thread.start()
        with os.fdopen(read_end, "rb", buffering=0) as reader:
            assert decoder.decode(read_frame(reader)) == big
        thread.join()


def test_frame_buffer_cuts_frames_from_any_split() -> None:
    messages = [Ask(key="a" * 300), Answer(value="no"), Ask(key="n")]
    data = b"".join(encode_frame(m) for m in messages)
    for chunk in (1, 3, 7, 64, len(data)):
        buffer = FrameBuffer()
        frames: list[bytes] = []
        for start in range(0, len(data), chunk):
            frames += buffer.feed(data[start : start + chunk])
        assert [decoder.decode(f) for f in frames] == messages
        assert buffer.pending == 0


def test_an_announced_oversized_frame_is_refused_before_it_is_read() -> None:
    header = struct.pack(">I", 101)
    with pytest.raises(FrameError, match="101 bytes, over the 100-byte limit"):
        FrameBuffer(max_frame=100).feed(header)
    with pytest.raises(FrameError, match="over the 100-byte limit"):
        read_frame(io.BytesIO(header), max_frame=100)
    with pytest.raises(FrameError, match="over the 100-byte limit"):
        frame_payload(header + b"x" * 101, max_frame=100)


def test_a_message_too_large_to_send_is_refused_by_name() -> None:
    with pytest.raises(FrameError, match=r"the Ask message of 2\d\d bytes is over the 100-byte"):
        encode_frame(Ask(key="x" * 200), max_frame=100)


def test_a_record_that_is_not_one_whole_frame_is_refused() -> None:
    frame = encode_frame(Ask(key="k"))
    with pytest.raises(FrameError, match="announces"):
        frame_payload(frame[:-1])  # a record cut short (MSG_TRUNC)
    with pytest.raises(FrameError, match="shorter than a frame header"):
        frame_payload(b"\x00")


def test_a_truncated_stream_is_end_of_file() -> None:
    frame = encode_frame(Ask(key="abc"))
    with pytest.raises(EOFError):
        read_frame(io.BufferedReader(io.BytesIO(frame[:-1])))  # type: ignore[arg-type]
    with pytest.raises(EOFError):
        read_frame(io.BytesIO(b""))


def test_garbage_and_unknown_kinds_are_refused_naming_the_sender() -> None:
    with pytest.raises(FrameError, match="the parser sent a frame that is not a message"):
        decode_message(decoder, b"\xc1garbage", sender="the parser")
    with pytest.raises(FrameError, match="the task sent"):
        decode_message(decoder, msgspec.msgpack.encode(["steal_token"]), sender="the task")


@pytest.mark.slow
def test_a_child_that_floods_gets_a_clear_error_before_its_flood_is_read(
    python_child: Callable[..., Child],
) -> None:
    child = python_child(
        """
        import os, struct
        os.write(1, struct.pack(">I", 2**31))
        while True:
            os.write(1, b"x" * 65536)
        """
    )
    assert child.stdout is not None
    with pytest.raises(FrameError, match="2147483648 bytes, over the"):
        read_frame(child.stdout)


@pytest.mark.slow
def test_a_child_that_sends_garbage_gets_a_clear_error(python_child: Callable[..., Child]) -> None:
    child = python_child(
        """
        import os, struct
        payload = b"not msgpack at all"
        os.write(1, struct.pack(">I", len(payload)) + payload)
        """
    )
    assert child.stdout is not None
    with pytest.raises(FrameError, match="the child sent a frame that is not a message"):
        decode_message(decoder, read_frame(child.stdout), sender="the child")
    assert child.wait(5) == 0
