"""The pipe protocol between the DAG processor and its parser processes.

Frames are a 4-byte big-endian length then a msgpack-encoded message. The processor sends
``ParseFile``; while importing, the parser may ask ``GetVariable`` / ``GetConnection`` (a DAG
file reading them at top level) and the processor answers; the parser ends with ``FileParsed``.
The parser never holds the service token: it asks, and the processor decides.
"""

from __future__ import annotations

import struct
from typing import IO

import msgspec

from airlock.models.internal import DagUpload
from airlock.models.secrets import ConnectionInfo


class ParseFile(msgspec.Struct, tag="parse", frozen=True):
    path: str
    relative_path: str
    bundle_root: str


class VariableAnswer(msgspec.Struct, tag="variable", frozen=True):
    value: str | None


class ConnectionAnswer(msgspec.Struct, tag="connection", frozen=True):
    connection: ConnectionInfo | None


class GetVariable(msgspec.Struct, tag="get_variable", frozen=True):
    key: str


class GetConnection(msgspec.Struct, tag="get_connection", frozen=True):
    conn_id: str


class FileParsed(msgspec.Struct, tag="parsed", frozen=True):
    dags: list[DagUpload]
    import_error: str | None = None
    #: The parser's state can no longer be trusted (threads left, sys.exit): replace it.
    must_restart: bool = False


ToParser = ParseFile | VariableAnswer | ConnectionAnswer
FromParser = GetVariable | GetConnection | FileParsed

_LENGTH = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024


def write_frame(stream: IO[bytes], message: msgspec.Struct) -> None:
    view = memoryview(_LENGTH.pack(len(payload := msgspec.msgpack.encode(message))) + payload)
    while view:
        written = stream.write(view)  # an unbuffered pipe may take only part of it
        view = view[written if written is not None else len(view) :]
    stream.flush()


def read_exact(stream: IO[bytes], size: int) -> bytes:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise EOFError("peer closed the pipe")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: IO[bytes]) -> bytes:
    (size,) = _LENGTH.unpack(read_exact(stream, _LENGTH.size))
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes is over the {MAX_FRAME}-byte limit")
    return read_exact(stream, size)


to_parser_decoder = msgspec.msgpack.Decoder(ToParser)
from_parser_decoder = msgspec.msgpack.Decoder(FromParser)
