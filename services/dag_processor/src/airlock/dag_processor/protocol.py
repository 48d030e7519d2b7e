"""The channel between the DAG processor and its parser processes.

Frames and messages are those of every supervised child
(:mod:`airlock.sdk.execution_time.supervised`), over the parser's stdin and a private copy of its
stdout. The processor sends ``ParseFile``; while importing, the parser may ask ``GetVariable`` /
``GetConnection`` (a DAG file reading them at top level) and the processor answers; the parser
ends with ``FileParsed``. The parser never holds the service token: it asks, and the processor
decides.
"""

from __future__ import annotations

import msgspec

from airlock.models.internal import DagUpload
from airlock.models.secrets import ConnectionInfo
from airlock.sdk.execution_time.supervised import Message

#: A file's parsed DAGs travel in one frame; a bundle of large DAGs needs more than the default.
MAX_FRAME = 256 * 1024 * 1024


class ParseFile(Message, frozen=True, tag="parse"):
    path: str
    relative_path: str
    bundle_root: str


class VariableAnswer(Message, frozen=True, tag="variable"):
    value: str | None


class ConnectionAnswer(Message, frozen=True, tag="connection"):
    connection: ConnectionInfo | None


class GetVariable(Message, frozen=True, tag="get_variable"):
    key: str


class GetConnection(Message, frozen=True, tag="get_connection"):
    conn_id: str


class FileParsed(Message, frozen=True, tag="parsed"):
    dags: list[DagUpload]
    import_error: str | None = None
    #: The parser's state can no longer be trusted (threads left, sys.exit): replace it.
    must_restart: bool = False


ToParser = ParseFile | VariableAnswer | ConnectionAnswer
FromParser = GetVariable | GetConnection | FileParsed

to_parser_decoder = msgspec.msgpack.Decoder(ToParser)
from_parser_decoder = msgspec.msgpack.Decoder(FromParser)
