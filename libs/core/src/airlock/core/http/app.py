"""The configuration every Airlock API app starts from.

Each service's ``create_app`` lists its route handlers and guards and calls ``build_app``; this
module adds what they must all have alike: the URL prefix, the OpenAPI document at
``{prefix}/openapi.json`` and its docs page with local assets, security headers on every answer
(:mod:`airlock.core.http.security_headers`), bearer-token auth for the app's audience, a health
endpoint, a body-size limit, the factory's collaborators (signer, settings, caches) as typed dependencies
that handlers declare by name (``secret_box: NamedDependency[SecretBox]``), problem-details
errors (documented for every operation: :mod:`airlock.core.http.problem_docs`), and for the
Execution and Internal APIs their dated versions (:mod:`airlock.core.http.versioning`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import msgspec
from litestar import Litestar, Router, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.types import ControllerRouterHandler, Guard

from airlock.core.http.auth import BearerTokenMiddleware
from airlock.core.http.blocking import Blocking, run_handlers_inline, session_dependency
from airlock.core.http.docs_page import docs_page
from airlock.core.http.problem_docs import document_problems
from airlock.core.http.problems import EXCEPTION_HANDLERS, Problem
from airlock.core.http.security_headers import security_headers
from airlock.core.http.versioning import install_versioning
from airlock.core.tokens import TokenVerifier
from airlock.models.versioning import ApiVersions

API_VERSION = "0.1.0"


class Health(msgspec.Struct, kw_only=True):
    status: str
    app: str
    version: str
    database: str


class ApiAppConfig(msgspec.Struct, kw_only=True):
    name: str
    title: str
    prefix: str
    audience: str
    verifier: TokenVerifier
    route_handlers: Sequence[ControllerRouterHandler]
    max_body_bytes: int
    #: Raises if the app cannot serve (e.g. the DB is unreachable); called by the health endpoint.
    probe: Callable[[], None]
    guards: Sequence[Guard] = ()
    #: Objects the factory built once (settings, signer, secret box, caches), injected by name
    #: into every handler that declares ``name: NamedDependency[Type]``.
    collaborators: dict[str, Any] = msgspec.field(default_factory=dict)
    #: ``app.state`` entries, for code that reads collaborators from the app state instead.
    state: dict[str, Any] = msgspec.field(default_factory=dict)
    on_shutdown: Sequence[Callable[[], Any]] = ()
    dependencies: dict[str, Any] = msgspec.field(default_factory=dict)
    #: The DB session factory behind the handlers' ``session`` dependency, if they have one.
    sessions: Callable[[], AbstractContextManager[Any]] | None = None
    #: Run blocking handlers on the event loop instead of in threads (SQLite; see
    #: :mod:`airlock.core.http.blocking`).
    inline_blocking: bool = False
    #: The API's dated versions (ADR 0007); None for an API without them (the Web API).
    versions: ApiVersions | None = None


def provide(collaborator: Any) -> Provide:
    """``collaborator`` as a dependency: the same object for every request.

    Declared ``sync_to_thread=False``: the provider only returns the object, so a thread hop
    (~0.5 ms) would cost more than the work, and on SQLite (ADR 0009) nothing leaves the loop.
    """

    def provider() -> Any:
        return collaborator

    return Provide(provider, use_cache=True, sync_to_thread=False)


def _telemetry_plugins() -> list[Any]:
    """Litestar's OpenTelemetry plugin when telemetry is on: a server span per request that
    continues the caller's ``traceparent``, and the ``http.server`` duration metric."""
    from airlock.core.telemetry import telemetry_installed

    if not telemetry_installed():
        return []
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    return [
        OpenTelemetryPlugin(
            OpenTelemetryConfig(exclude=["/health$"], exclude_spans=["receive", "send"])
        )
    ]


def build_app(config: ApiAppConfig) -> Litestar:
    probe = config.probe
    blocking = Blocking(config.inline_blocking)
    dependencies = {
        "blocking": provide(blocking),
        **{name: provide(value) for name, value in config.collaborators.items()},
        **config.dependencies,
    }
    if config.sessions is not None:
        dependencies["session"] = session_dependency(config.sessions, config.inline_blocking)

    @get(
        "/health",
        exclude_from_auth=True,
        operation_id="GetHealth",
        sync_to_thread=True,
        tags=["health"],
    )
    def health() -> Health:
        try:
            probe()
        except Exception as exc:
            raise Problem(
                503, f"{config.name} API cannot reach its database: {exc}", slug="unhealthy"
            ) from None
        return Health(status="ok", app=config.name, version=API_VERSION, database="ok")

    api = Router(
        path=config.prefix,
        route_handlers=[
            health,
            Router(
                path="/", route_handlers=list(config.route_handlers), guards=list(config.guards)
            ),
        ],
    )
    openapi_path = f"{config.prefix}/openapi"
    docs_plugin, docs_assets = docs_page(openapi_path)
    auth = DefineMiddleware(
        BearerTokenMiddleware,
        verifier=config.verifier,
        audience=config.audience,
        exclude=[f"^{openapi_path}"],
        blocking=blocking,
    )
    app = Litestar(
        route_handlers=[api, docs_assets],
        middleware=[auth],
        plugins=_telemetry_plugins(),
        dependencies=dependencies,
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=config.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title=config.title,
            version=API_VERSION,
            path=openapi_path,
            render_plugins=[docs_plugin],
        ),
        before_send=[security_headers(openapi_path)],
        state=State({**config.state, "blocking": blocking}),
        on_shutdown=list(config.on_shutdown),
        debug=False,
    )
    if config.inline_blocking:
        run_handlers_inline(app)
    document_problems(app, versioned=config.versions is not None)
    if config.versions is not None:
        install_versioning(app, config.versions, config.prefix, config.max_body_bytes)
    return app
