"""The :class:`~airlock.sdk.execution_time.comms.Comms` of user code that may only *read*
variables and connections: top-level DAG code in the DAG processor's parsers, and callbacks in
the callback processor's children.

Such a child holds no token: each lookup is one request frame to its parent
(:class:`~airlock.sdk.execution_time.protocol.GetVariable` /
:class:`~airlock.sdk.execution_time.protocol.GetConnection`, the task channel's own messages),
which asks the Internal API and answers with a
:class:`~airlock.sdk.execution_time.protocol.VariableReply` /
:class:`~airlock.sdk.execution_time.protocol.ConnectionReply`. Every other call fails with a
message that says where the work belongs instead.
"""

from __future__ import annotations

from typing import IO, Any

import msgspec

from airlock.sdk.execution_time.comms import ConnectionResult, connection_result
from airlock.sdk.execution_time.protocol import (
    ConnectionReply,
    GetConnection,
    GetVariable,
    VariableReply,
)
from airlock.sdk.execution_time.supervised import Message, read_frame, write_frame


class LookupComms:
    """Variables and connections asked of the parent over ``requests`` / ``replies``."""

    def __init__(
        self,
        requests: IO[bytes],
        replies: IO[bytes],
        *,
        decoder: msgspec.msgpack.Decoder[Any],
        max_frame: int,
        unavailable: str,
    ) -> None:
        """``decoder`` decodes what the parent sends this kind of child; ``unavailable`` ends
        the error of any other call ("… is not available <unavailable>")."""
        self._out = requests
        self._in = replies
        self._decoder = decoder
        self._max_frame = max_frame
        self._unavailable = unavailable

    def _ask(self, request: Message, reply: type[Any]) -> Any:
        write_frame(self._out, request, max_frame=self._max_frame)
        answer = self._decoder.decode(read_frame(self._in, max_frame=self._max_frame))
        assert isinstance(answer, reply)
        return answer

    def get_variable(self, key: str) -> str | None:
        value: str | None = self._ask(GetVariable(key=key), VariableReply).value
        return value

    def get_connection(self, conn_id: str) -> ConnectionResult | None:
        return connection_result(
            self._ask(GetConnection(conn_id=conn_id), ConnectionReply).connection
        )

    def __getattr__(self, name: str) -> Any:
        def unavailable(*_: Any, **__: Any) -> Any:
            raise RuntimeError(f"{name} is not available {self._unavailable}")

        return unavailable
