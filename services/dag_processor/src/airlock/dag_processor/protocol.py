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

# Variable and connection lookups are the task channel's own messages (lookup_comms.py).
from airlock.sdk.execution_time.protocol import (
    ConnectionReply,
    GetConnection,
    GetVariable,
    VariableReply,
)
from airlock.sdk.execution_time.supervised import Message

#: A file's parsed DAGs travel in one frame; a bundle of large DAGs needs more than the default.
MAX_FRAME = 256 * 1024 * 1024


class ParseFile(Message, frozen=True, tag="parse"):
    path: str
    relative_path: str
    bundle_root: str


class FileParsed(Message, frozen=True, tag="parsed"):
    dags: list[DagUpload]
    import_error: str | None = None
    #: The parser's state can no longer be trusted (threads left, sys.exit): replace it.
    must_restart: bool = False


ToParser = ParseFile | VariableReply | ConnectionReply
FromParser = GetVariable | GetConnection | FileParsed

to_parser_decoder = msgspec.msgpack.Decoder(ToParser)
from_parser_decoder = msgspec.msgpack.Decoder(FromParser)
