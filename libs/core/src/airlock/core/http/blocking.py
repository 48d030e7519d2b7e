"""Where an API app runs its blocking work (DB statements): in worker threads, or inline.

Handlers that talk to the DB are synchronous. By default Litestar runs each in a worker thread,
so that the event loop serves other requests while a statement waits on the network or a lock.
That is the right trade on PostgreSQL. On SQLite it is not: the database is a file in this
process's page cache, a statement is CPU work that holds the GIL, and the thread hops themselves
(futex wake-ups, GIL hand-overs between the loop and the threads around every SQLite call)
cost more than the work: ~1.5 ms of CPU per request, a third of the API's time per task in
``just bench run``. So an app on SQLite runs its handlers inline, on the event loop, one at a
time, like a synchronous WSGI worker; the loop still holds every open connection, and long-polls
wait on it asynchronously.

What inline costs: a request waits while another's statements run (they are short: an API on
SQLite serves one machine), and a write that finds the DB locked by another process (the
scheduler) holds the loop until that lock frees or the busy timeout turns it into a 503.

Some handlers are heavy on the CPU rather than on the DB: password hashing (Argon2 is built to
take tens of milliseconds) and creating a run of a big DAG. Inline, one of them would stall every
other request of the process, so such a handler is declared with ``opt=OFF_LOOP`` and stays in a
worker thread on SQLite too (ADR 0018); SQLite in WAL mode lets the loop's reads go on meanwhile.

Inline, nothing may suspend between a handler's first statement and its session's close: the
session dependency is then an async generator (:func:`session_dependency`), closed on the loop
right after the handler returns or raises, never handed to a thread.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, ParamSpec, TypeVar

from litestar import Litestar
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.utils.sync import AsyncCallable

#: ``opt`` of a handler that runs in a worker thread even when the app's handlers run inline.
OFF_LOOP: dict[str, Any] = {"off_loop": True}
SWITCH_INTERVAL_S = 0.001

P = ParamSpec("P")
T = TypeVar("T")


class Blocking:
    """How one app runs blocking calls: ``inline`` on the event loop, or in worker threads."""

    def __init__(self, inline: bool) -> None:
        self.inline = inline

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self.inline:
            return fn(*args, **kwargs)
        # The loop's default executor: the threads Litestar runs sync handlers in, so one
        # process keeps one small pool rather than two.
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(None, call)


def session_dependency(
    sessions: Callable[[], AbstractContextManager[Any]], inline: bool
) -> Provide:
    """The request-scoped ``session`` dependency over a session factory; handlers commit."""
    if inline:

        async def session_on_loop() -> AsyncIterator[Any]:
            with sessions() as session:
                yield session

        return Provide(session_on_loop)

    def session_in_thread() -> Iterator[Any]:
        with sessions() as session:
            yield session

    return Provide(session_in_thread)


def run_handlers_inline(app: Litestar) -> int:
    """Make every synchronous handler of ``app`` that Litestar would run in a thread run on the
    event loop instead; returns how many it changed.

    Handlers are declared ``sync_to_thread=True`` (right for PostgreSQL); Litestar wraps each at
    registration, and this unwraps the registered copies of this app only. A handler declared
    with ``opt=OFF_LOOP`` keeps its thread.
    """
    # The loop shares the GIL with off-loop handlers: a 1 ms switch interval (Python's default
    # is 5 ms) bounds how long each of its many small steps waits for it behind their CPU work.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    changed = 0
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.opt.get("off_loop"):
                continue
            if isinstance(handler, HTTPRouteHandler) and isinstance(handler.fn, AsyncCallable):
                handler._fn = handler.fn.func  # type: ignore[assignment]
                handler.has_sync_callable = True
                changed += 1
    return changed
