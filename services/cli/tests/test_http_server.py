"""The API's HTTP protocol: a response's head and body leave in one write, and HTTP still works:
keep-alive, pipelined requests, streamed bodies, ``Connection: close``. A real uvicorn server on
a loopback port, talked to over a raw socket."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from airlock.cli.http_server import JoinedWritesHttpTools, _JoinedWrites


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})
        return
    body = f"hello {scope['path']}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=JoinedWritesHttpTools, log_level="warning"
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield port
    instance.should_exit = True
    thread.join(10)


def exchange(port: int, raw: bytes) -> bytes:
    """Send ``raw`` and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_pipelined_keep_alive_requests_are_answered_in_order(server: int) -> None:
    raw = (
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answer = exchange(server, raw)
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    assert answer.index(b"hello /a") < answer.index(b"hello /b") < answer.index(b"hello /c")


def test_a_streamed_body_arrives_whole(server: int) -> None:
    answer = exchange(server, b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    assert body.index(b"one,") < body.index(b"two,") < body.index(b"three")
    assert body.endswith(b"0\r\n\r\n")


class RecordingTransport(asyncio.Transport):
    """Stands in for the socket transport: keeps each write it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def test_writes_of_one_loop_turn_leave_as_one_and_close_sends_what_is_pending() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], bool]:
        real = RecordingTransport()
        joined = _JoinedWrites(real, asyncio.get_running_loop())
        joined.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        joined.write(b"ok")
        assert real.writes == []  # nothing is sent before the turn ends
        await asyncio.sleep(0)
        first = list(real.writes)
        joined.write(b"late")
        joined.close()
        return first, real.writes, real.closed

    first, every, closed = asyncio.run(scenario())
    assert first == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    assert every[-1] == b"late"
    assert closed
