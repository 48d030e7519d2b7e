"""Serve every supported version of an API from head handlers: the HTTP side of
:mod:`airlock.models.versioning` (ADR 0007).

:func:`install_versioning` puts :class:`VersionedApi` in front of a Litestar app's router, so it
sees each request before routing (an endpoint that moved must be routed by its new path). It
reads ``Airlock-API-Version: YYYY-MM-DD``:

- no header, or head's date: the request goes straight through; the only cost is the response
  header that tells every client the server's head version;
- a malformed, unknown, too old or too new date: 400 naming the supported versions;
- an older version: an endpoint that did not exist then is a 404; a moved endpoint's old path is
  rewritten to the new one; a JSON request body is migrated up to head when the handler reads it
  (after authentication: no body of a caller without a valid token is read or decoded), and a
  successful JSON response is migrated down after the handler encoded it.

``GET {prefix}/openapi/openapi.json`` answers with the document of the client's version.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Litestar, Response
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.routes import HTTPRoute
from litestar.utils import normalize_path

from airlock.core.http.problems import PROBLEM_MEDIA_TYPE
from airlock.models.versioning import (
    HEADER_NAME,
    ApiVersions,
    Endpoint,
    UnsupportedVersion,
    VersionGates,
    versioned_document,
)

Message = dict[str, Any]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEADER = HEADER_NAME.lower().encode()
_PARAM_TYPES = re.compile(r":\w+}")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def install_versioning(
    app: Litestar, versions: ApiVersions, prefix: str, max_body_bytes: int
) -> VersionedApi:
    """Put the version gates in front of ``app``'s router (after its routes are registered)."""
    versioned = VersionedApi(app, versions, prefix, max_body_bytes)
    app.asgi_handler = versioned  # type: ignore[assignment]
    return versioned


class VersionedApi:
    def __init__(
        self, app: Litestar, versions: ApiVersions, prefix: str, max_body_bytes: int
    ) -> None:
        self._app = app
        self._inner: ASGIApp = app.asgi_handler  # type: ignore[assignment]
        self.versions = versions
        self.prefix = prefix
        self.gates = VersionGates(versions, endpoints_of(app, prefix))
        self._max_body_bytes = max_body_bytes
        self._head_header = (_HEADER, versions.head.encode())
        self._openapi_path = f"{prefix}/openapi/openapi.json"
        self._documents: dict[int, bytes] = {}
        #: An endpoint removed at head is still routed (older clients use it): look each up.
        self._head_hides = any(path is None for path in versions.shapes[0].paths.values())

    def document(self, index: int) -> dict[str, Any]:
        """The OpenAPI document of version ``index`` (0 is head)."""
        head = self._app.openapi_schema.to_schema()
        return versioned_document(head, self.versions, index, self.prefix)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._inner(scope, receive, send)
            return
        send = self._announcing(send)
        requested = None
        for name, value in scope["headers"]:
            if name == _HEADER:
                requested = value.decode("latin-1").strip()
                break
        try:
            index = self.versions.resolve(requested)
        except UnsupportedVersion as exc:
            await _problem(
                send,
                400,
                str(exc),
                slug=f"unsupported-api-version-{exc.reason}",
                extra={"supported_versions": list(self.versions.dates)},
            )
            return
        if scope["method"] == "GET" and scope["path"] == self._openapi_path:
            await self._send_document(index, send)
        elif index == 0 and not self._head_hides:
            await self._inner(scope, receive, send)
        else:
            await self._older(index, scope, receive, send)

    def _announcing(self, send: Send) -> Send:
        """``send`` that adds the head version to the response's headers."""

        async def announce(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self._head_header]
            await send(message)

        return announce

    async def _older(self, index: int, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        if path.startswith(self.prefix + "/"):
            moved = self.gates.head_path(index, method, path[len(self.prefix) :])
            if moved is not None:
                scope["path"] = path = self.prefix + moved
                scope["raw_path"] = path.encode()
        try:
            template = self._app.asgi_router.handle_routing(
                path=normalize_path(path),
                method=method,
            )[4]
        except (NotFoundException, MethodNotAllowedException):
            await self._inner(scope, receive, send)  # Litestar answers 404 / 405 itself
            return
        key = (method, template[len(self.prefix) :])
        if not self.gates.exists(index, key):
            await _problem(
                send,
                404,
                f"{method} {scope['path']} does not exist in version {self.versions.dates[index]} "
                f"of the {self.versions.api} API; this server supports "
                f"{self.versions.supported()}",
                slug="not-in-api-version",
            )
            return
        up = self.gates.request_gates(index, key)
        if up and method in _BODY_METHODS:
            # Migrated when the handler reads the body: after authentication, so a caller
            # without a valid token never gets a body decoded (or read) on its behalf.
            receive = _migrating(receive, self._max_body_bytes, up)
            scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"content-length"]
        down = self.gates.response_gates(index, key)
        if down:
            send = _migrating_responses(send, lambda value: VersionGates.apply(down, value))
        await self._inner(scope, receive, send)

    async def _send_document(self, index: int, send: Send) -> None:
        body = self._documents.get(index)
        if body is None:
            body = self._documents[index] = msgspec.json.encode(self.document(index))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/vnd.oai.openapi+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def versioned_api(app: Litestar) -> VersionedApi | None:
    """The version gates in front of ``app``, if it has dated versions."""
    handler = app.asgi_handler
    return handler if isinstance(handler, VersionedApi) else None


def endpoints_of(app: Litestar, prefix: str) -> list[Endpoint]:
    """Every HTTP endpoint of ``app`` with the head types of its JSON request and response."""
    endpoints = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(prefix):
            continue
        path = normalize_path(_PARAM_TYPES.sub("}", route.path))[len(prefix) :]
        for method, (handler, _) in route.route_handler_map.items():
            if method in ("OPTIONS", "HEAD"):
                continue
            signature = handler.parsed_fn_signature
            data = signature.parameters.get("data")
            endpoints.append(
                Endpoint(
                    method=method,
                    path=path,
                    request=data.annotation if data is not None else None,
                    response=_body_type(signature.return_type.annotation),
                )
            )
    return endpoints


def _body_type(annotation: Any) -> Any:
    """The type a handler's response body has: ``X`` for ``X`` and ``Response[X]``."""
    if annotation is None or annotation is type(None):
        return None
    if typing.get_origin(annotation) is Response or annotation is Response:
        args = typing.get_args(annotation)
        return args[0] if args else None
    return annotation


# --- body plumbing -------------------------------------------------------------------------


def _migrate(body: bytes, gates: Callable[[Any], Any]) -> bytes:
    """``body`` through ``gates`` when it is JSON; as it is otherwise (the handler will answer
    400 or 422 naming the problem, as for any client)."""
    if not body:
        return body
    try:
        value = msgspec.json.decode(body)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return body  # not UTF-8, not JSON, or nested too deeply
    try:
        return msgspec.json.encode(gates(value))
    except (TypeError, ValueError, KeyError, AttributeError):
        return body  # a shape no version has: the handler answers 422 naming the field


def _migrating(receive: Receive, limit: int, gates: list[Any]) -> Receive:
    """A ``receive`` whose first call reads the whole body and returns it migrated up to head.

    A body over ``limit`` is passed on as it is, so the app's own size check answers 413.
    """
    pending: list[Message] = []
    started = False

    async def migrate() -> Message:
        nonlocal started
        if started:
            return pending.pop(0) if pending else await receive()
        started = True
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                pending.append(message)
                break
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > limit and message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(chunks), "more_body": True}
            if not message.get("more_body", False):
                break
        body = _migrate(b"".join(chunks), lambda value: VersionGates.apply(gates, value))
        return {"type": "http.request", "body": body, "more_body": False}

    return migrate


def _migrating_responses(send: Send, gates: Callable[[Any], Any]) -> Send:
    """A ``send`` that passes a successful JSON response through ``gates``."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def migrate(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            headers = dict(message.get("headers", ()))
            is_json = headers.get(b"content-type", b"").startswith(b"application/json")
            if 200 <= message["status"] < 300 and is_json:
                start = message
                return
        elif message["type"] == "http.response.body" and start is not None:
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = _migrate(b"".join(chunks), gates)
            start["headers"] = [
                (n, v) for n, v in start.get("headers", ()) if n != b"content-length"
            ] + [(b"content-length", str(len(body)).encode())]
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        await send(message)

    return migrate


async def _problem(
    send: Send, status: int, detail: str, *, slug: str, extra: dict[str, Any] | None = None
) -> None:
    """A problem-details answer from before routing, where Litestar's handlers cannot help."""
    body = msgspec.json.encode(
        {
            "type": f"https://airlock.dev/problems/{slug}",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            **(extra or {}),
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
