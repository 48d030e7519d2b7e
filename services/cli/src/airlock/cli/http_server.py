"""uvicorn's httptools protocol, with each response's head and body sent in one write.

uvicorn writes a response's status line and headers as soon as the app sends
``http.response.start``, and its body on ``http.response.body``: two ``send()`` calls, two TCP
segments, and two wake-ups of the client, which reads the head, then waits for the body. Over
loopback each ``send()`` also runs the receiver's TCP stack on the sender's CPU. For the small
JSON answers the APIs give, that second send is a sixth of the API's CPU time per task
(``just bench run``). Here writes made in one turn of the event loop are joined and sent once,
at the end of that turn; a streamed body still goes out as the app produces it.

uvicorn also waits forever for a request's head: a client that opens connections and sends their
headers a byte at a time ("slowloris") holds them all. A request whose head has not fully arrived
``header_timeout_s`` after its connection opened (or after its first byte, on a kept-alive
connection) is answered ``408 Request Timeout`` and its connection closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _JoinedWrites:
    """A transport whose writes of one loop turn leave as one ``write`` of the real one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


_HEAD_TIMEOUT_BODY = b"the request's headers did not arrive in time"
_HEAD_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
    % (len(_HEAD_TIMEOUT_BODY), _HEAD_TIMEOUT_BODY)
)


class JoinedWritesHttpTools(HttpToolsProtocol):
    """Pass as uvicorn's ``http`` protocol class (:func:`with_header_timeout` sets the limit)."""

    header_timeout_s: float = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_JoinedWrites(transport, self.loop))  # type: ignore[arg-type]
        self._await_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._await_head()

    def on_headers_complete(self) -> None:
        self._head_arrived()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._head_arrived()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_too_slow)

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.write(_HEAD_TIMEOUT_RESPONSE)
            self.transport.close()


def with_header_timeout(timeout_s: float) -> type[JoinedWritesHttpTools]:
    """The protocol class with a request head allowed ``timeout_s`` to arrive."""
    return type("JoinedWritesHttpTools", (JoinedWritesHttpTools,), {"header_timeout_s": timeout_s})
