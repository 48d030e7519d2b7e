"""Frames and message types: how a parent and its child talk, whatever the child runs.

A frame is a 4-byte big-endian payload length, then the payload: one msgpack-encoded
:class:`Message`. Messages are frozen ``msgspec`` Structs encoded as arrays whose first item is
the message's ``kind`` tag, and each channel declares its *message families* (what each side may
send) as tagged unions, decoded by one prebuilt ``msgspec.msgpack.Decoder`` per family. Every
field added to a message later must have a default, so an older child and a newer parent keep
understanding each other.

The same frame travels over byte streams (pipes, stream sockets: :func:`read_frame`,
:func:`write_frame`, :class:`FrameBuffer` for non-blocking readers) and as one record of a
``SOCK_SEQPACKET`` socket (:func:`frame_payload`), where descriptors can ride along.
"""

from __future__ import annotations

import struct
from typing import IO, Any, Protocol

import msgspec

_LENGTH = struct.Struct(">I")
HEADER_SIZE = _LENGTH.size
#: A channel's default frame limit; a channel whose messages may be larger passes its own.
MAX_FRAME = 64 * 1024 * 1024

_encoder = msgspec.msgpack.Encoder()


class Message(msgspec.Struct, frozen=True, array_like=True, tag_field="kind"):
    """Base of every message on a supervised child's channel; subclasses set ``tag=``."""


class FrameError(ValueError):
    """The peer sent something that is not a frame of its channel (too large, or garbage)."""


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes | None: ...


def encode_frame(message: msgspec.Struct, *, max_frame: int = MAX_FRAME) -> bytes:
    payload = _encoder.encode(message)
    if len(payload) > max_frame:
        raise FrameError(
            f"the {type(message).__name__} message of {len(payload)} bytes is over the "
            f"{max_frame}-byte frame limit"
        )
    return _LENGTH.pack(len(payload)) + payload


def read_frame(stream: _Readable, *, max_frame: int = MAX_FRAME) -> bytes:
    """One frame's payload from a blocking stream; ``EOFError`` when the peer is gone."""
    (size,) = _LENGTH.unpack(_read_exact(stream, HEADER_SIZE))
    _check_size(size, max_frame)
    return _read_exact(stream, size)


def write_frame(stream: IO[bytes], message: msgspec.Struct, *, max_frame: int = MAX_FRAME) -> None:
    """Write one frame to a blocking stream, all of it (an unbuffered pipe may take part)."""
    view = memoryview(encode_frame(message, max_frame=max_frame))
    while view:
        written = stream.write(view)
        view = view[written if written is not None else len(view) :]
    stream.flush()


def frame_payload(record: bytes, *, max_frame: int = MAX_FRAME) -> bytes:
    """The payload of a frame received whole, as one record of a ``SOCK_SEQPACKET`` socket."""
    if len(record) < HEADER_SIZE:
        raise FrameError(f"a record of {len(record)} bytes is shorter than a frame header")
    (size,) = _LENGTH.unpack_from(record)
    _check_size(size, max_frame)
    if size != len(record) - HEADER_SIZE:
        raise FrameError(
            f"a record announces {size} bytes of payload but carries {len(record) - HEADER_SIZE}"
        )
    return record[HEADER_SIZE:]


def decode_message(decoder: msgspec.msgpack.Decoder[Any], payload: bytes, *, sender: str) -> Any:
    """``decoder.decode(payload)``, with an error that names the sender when it is garbage."""
    try:
        return decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise FrameError(
            f"{sender} sent a frame that is not a message of its channel ({exc}); "
            f"the first bytes were {bytes(payload[:32])!r}"
        ) from None


def _read_exact(stream: _Readable, size: int) -> bytes:
    data = stream.read(size)
    if data is not None and len(data) == size:
        return data  # a buffered reader returns everything at once, or short only at the end
    chunks = [data] if data else []
    missing = size - len(data or b"")
    while data and missing:
        data = stream.read(missing)
        if data:
            chunks.append(data)
            missing -= len(data)
    if missing:
        raise EOFError("the peer closed the channel")
    return b"".join(chunks)


def _check_size(size: int, max_frame: int) -> None:
    if size > max_frame:
        raise FrameError(
            f"the peer announced a frame of {size} bytes, over the {max_frame}-byte limit"
        )


class FrameBuffer:
    """Cuts frames out of bytes that arrive in pieces (for a reader that does not block)."""

    def __init__(self, *, max_frame: int = MAX_FRAME) -> None:
        self._buffer = bytearray()
        self._max_frame = max_frame

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= HEADER_SIZE:
            (size,) = _LENGTH.unpack_from(self._buffer)
            _check_size(size, self._max_frame)
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
