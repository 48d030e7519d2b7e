"""Serve any subset of the three API apps from one ASGI process.

Each app keeps its own routes under its own prefix (``/api/v1``, ``/execution``, ``/internal``);
this dispatcher only picks the app by path prefix and fans the ASGI lifespan out to every app it
serves. A path under an app that is not served here is a 404 problem, exactly as if that app lived
on another machine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

# Plain ASGI shapes: the dispatcher only routes, it never looks inside a message.
Message = dict[str, Any]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PREFIXES: Mapping[str, str] = {"web": "/api/v1", "execution": "/execution", "internal": "/internal"}


class ComposedApi:
    def __init__(self, apps: Mapping[str, ASGIApp]) -> None:
        unknown = set(apps) - set(PREFIXES)
        if unknown:
            raise ValueError(f"unknown API app(s) {sorted(unknown)}; choose from {list(PREFIXES)}")
        self._routes = sorted(
            ((PREFIXES[name], app) for name, app in apps.items()), key=lambda r: -len(r[0])
        )
        self.served = sorted(apps)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope.get("path", "")
        for prefix, app in self._routes:
            if path == prefix or path.startswith(prefix + "/"):
                await app(scope, receive, send)
                return
        await _not_served(path, self.served, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Run every app's lifespan; report startup only once all of them have started."""
        apps = [app for _, app in self._routes]
        inboxes: list[asyncio.Queue[Message]] = [asyncio.Queue() for _ in apps]
        outbox: asyncio.Queue[Message] = asyncio.Queue()

        def receiver(inbox: asyncio.Queue[Message]) -> Receive:
            async def receive_one() -> Message:
                return await inbox.get()

            return receive_one

        async def sender(message: Message) -> None:
            await outbox.put(message)

        async def run(app: ASGIApp, inbox: asyncio.Queue[Message]) -> None:
            await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receiver(inbox), sender)

        tasks = [asyncio.create_task(run(app, q)) for app, q in zip(apps, inboxes, strict=True)]
        for phase in ("startup", "shutdown"):
            message = await receive()
            if message["type"] != f"lifespan.{phase}":
                return
            for inbox in inboxes:
                await inbox.put({"type": f"lifespan.{phase}"})
            failures: list[str] = []
            for _ in apps:
                reply = await outbox.get()
                if reply["type"].endswith(".failed"):
                    failures.append(str(reply.get("message", "")))
            if failures:
                await send({"type": f"lifespan.{phase}.failed", "message": "; ".join(failures)})
                break
            await send({"type": f"lifespan.{phase}.complete"})
        await asyncio.gather(*tasks, return_exceptions=True)


async def _not_served(path: str, served: list[str], send: Send) -> None:
    body: dict[str, Any] = {
        "type": "https://airlock.dev/problems/not-found",
        "title": "Not Found",
        "status": 404,
        "detail": f"no API here serves {path}; this process serves: "
        + ", ".join(f"{name} ({PREFIXES[name]})" for name in served),
    }
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
