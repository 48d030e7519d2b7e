"""What every event trigger shares: the reconnect loop with its backoff, and the source's URL
without credentials."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, TypeVar

from airlock.sdk.bases.trigger import SourceStatus

Item = TypeVar("Item")


class Backoff:
    """Reconnect delays: ``first`` doubling up to ``most``; back to ``first`` once connected."""

    def __init__(self, first: float = 0.5, most: float = 30.0) -> None:
        self.first = first
        self.most = most
        self.delay = first

    def next(self) -> float:
        delay = self.delay
        self.delay = min(self.delay * 2, self.most)
        return delay

    def reset(self) -> None:
        self.delay = self.first


def safe_url(scheme: str, host: str | None, port: int | None, path: str = "") -> str:
    """``scheme://host:port/path``: what log lines and statuses show (never a password)."""
    where = host or "localhost"
    if port:
        where += f":{port}"
    return f"{scheme}://{where}{'/' + path.lstrip('/') if path else ''}"


def reconnecting(url: str, exc: BaseException, delay: float) -> SourceStatus:
    """The status a trigger yields when its source failed: once per failure and backoff."""
    return SourceStatus(
        "reconnecting",
        error=f"{url} unreachable ({type(exc).__name__}: {exc}); retrying in {delay:g} s",
    )


async def reconnect_forever(
    url: str,
    errors: tuple[type[BaseException], ...],
    session: Callable[[], AsyncGenerator[Item, None]],
) -> AsyncIterator[Item | SourceStatus]:
    """What ``session()`` yields, again and again: a session connects to the source (closing its
    client when it ends), yields ``SourceStatus("running")`` and then the events. When it fails
    with one of ``errors``, the :func:`reconnecting` status is yielded and the next session
    starts after a :class:`Backoff` delay, which starts over once a session yields."""
    backoff = Backoff()
    while True:
        try:
            async with contextlib.aclosing(session()) as items:
                async for item in items:
                    backoff.reset()
                    yield item
        except errors as exc:
            delay = backoff.next()
            yield reconnecting(url, exc, delay)
            await asyncio.sleep(delay)


def decode_text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
