"""Document every error an Airlock API answers: a ``Problem`` schema, media type
``application/problem+json``, under each 4xx/5xx status an operation can return.

Litestar documents errors in its own shape (``status_code``/``detail``/``extra`` as
``application/json``), which is not what :mod:`airlock.core.http.problems` sends, and only for a
400. So every app's OpenAPI plugin documents errors here instead, once, when the document is first
built: the exported files (``just openapi``), the served document and every older version's
document (made from head's) all show the same errors.

Which statuses an operation can return follows from what it takes, because the errors come from
the layers it passes through rather than from each handler:

- every operation: 500 (a bug, logged) and 503 (the database is down or busy; retry);
- an API with dated versions: 400 for every operation (an unsupported ``Airlock-API-Version``);
- an operation behind a token: 401 (no token, or one that is invalid, expired or revoked) and 403
  (a valid token of the wrong API, kind, role, bundle or task instance);
- parameters or a body: 400 (unparseable) and 422 (well-formed but wrong; the field is named);
- path parameters or a body: 404 (what they name does not exist, or the token may not see it);
- a body: 413 (larger than the API accepts);
- a method that changes state: 409 (it conflicts with the current state).

A handler that answers another status on its own says so with ``responses=problems(401)`` (the
login endpoint needs no token, yet wrong credentials are a 401).
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)
from litestar.routes import HTTPRoute

from airlock.core.http.problems import PROBLEM_MEDIA_TYPE

PROBLEM_SCHEMA_NAME = "Problem"

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    title=PROBLEM_SCHEMA_NAME,
    description=(
        "RFC 9457 problem details. `detail` names what was wrong, the value received and what to "
        "do; some problems add members of their own (`errors` for a body of the wrong shape, "
        "`supported_versions` for an unsupported API version)."
    ),
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(
            type=OpenAPIType.STRING,
            description="a URI naming the kind of problem, e.g. https://airlock.dev/problems/not-found",
        ),
        "title": Schema(type=OpenAPIType.STRING, description="the status's phrase"),
        "status": Schema(type=OpenAPIType.INTEGER, minimum=400, maximum=599),
        "detail": Schema(type=OpenAPIType.STRING),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(),
            description="each field that did not match the expected shape",
        ),
        "supported_versions": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING)),
    },
)

DESCRIPTIONS = {
    400: "Bad request: unparseable JSON or parameter, or an unsupported Airlock-API-Version",
    401: "No bearer token, or one that is invalid, expired or revoked",
    403: "The token may not do this (wrong API, kind, role, bundle or task instance)",
    404: "What the request names does not exist, or this token may not see it",
    409: "The request conflicts with the current state",
    413: "The request body is larger than this API accepts",
    422: "The request is well-formed but a field or parameter is wrong (named in detail)",
    500: "Internal error (a bug; the server logged it)",
    503: "The database is unavailable or busy; retry after Retry-After seconds",
}
_CHANGES_STATE = frozenset({"post", "put", "patch", "delete"})


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """``responses=`` for a route handler that answers ``statuses`` beyond what it takes implies."""
    return {
        status: ResponseSpec(data_container=None, description=DESCRIPTIONS.get(status, "Problem"))
        for status in statuses
    }


def document_problems(app: Litestar, *, versioned: bool) -> None:
    """Make ``app``'s OpenAPI document describe its problem responses when it is built."""
    plugin = app.plugins.get(OpenAPIPlugin)
    # Litestar builds the document lazily and offers no hook to amend it; a subclass that only
    # extends ``provide_openapi`` keeps that laziness (no start-up cost) and the plugin's routes.
    plugin.__class__ = _VersionedProblems if versioned else _Problems


class _Problems(OpenAPIPlugin):
    __slots__ = ()
    versioned = False

    def provide_openapi(self) -> OpenAPI:
        openapi = super().provide_openapi()
        components = openapi.components
        schemas = components.schemas if components.schemas is not None else {}
        if PROBLEM_SCHEMA_NAME not in schemas:
            components.schemas = {**schemas, PROBLEM_SCHEMA_NAME: PROBLEM_SCHEMA}
            public = _public_operations(self.included_routes.values())
            for path, item in (openapi.paths or {}).items():
                for method in ("get", "put", "post", "delete", "patch"):
                    operation: Operation | None = getattr(item, method)
                    if operation is not None:
                        authenticated = (method.upper(), path) not in public
                        _document(operation, method, authenticated, self.versioned)
        return openapi


class _VersionedProblems(_Problems):
    __slots__ = ()
    versioned = True


def _public_operations(routes: Any) -> set[tuple[str, str]]:
    """(method, path) of each operation that needs no token (``exclude_from_auth``)."""
    public: set[tuple[str, str]] = set()
    for route in routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method, (handler, _) in route.route_handler_map.items():
            if handler.opt.get("exclude_from_auth"):
                public.add((str(method), route.path_format or "/"))
    return public


def problem_statuses(
    operation: Operation, method: str, *, authenticated: bool, versioned: bool
) -> set[int]:
    """The 4xx/5xx statuses ``operation`` can answer (see the module's docstring)."""
    parameters = [p for p in operation.parameters or () if not isinstance(p, Reference)]
    has_body = operation.request_body is not None
    statuses = {500, 503}
    if versioned:
        statuses.add(400)
    if authenticated:
        statuses |= {401, 403}
    if parameters or has_body:
        statuses |= {400, 422}
    if has_body or any(p.param_in == "path" for p in parameters):
        statuses.add(404)
    if has_body:
        statuses.add(413)
    if method in _CHANGES_STATE:
        statuses.add(409)
    return statuses


def _document(operation: Operation, method: str, authenticated: bool, versioned: bool) -> None:
    responses = dict(operation.responses or {})
    statuses = problem_statuses(operation, method, authenticated=authenticated, versioned=versioned)
    # Litestar's own error entries describe a body Airlock never sends: replace them.
    statuses |= {int(code) for code in responses if code[0] in "45"}
    for status in sorted(statuses):
        responses[str(status)] = OpenAPIResponse(
            description=DESCRIPTIONS.get(status, "Problem"),
            content={
                PROBLEM_MEDIA_TYPE: OpenAPIMediaType(
                    schema=Reference(ref=f"#/components/schemas/{PROBLEM_SCHEMA_NAME}")
                )
            },
        )
    operation.responses = dict(sorted(responses.items()))
