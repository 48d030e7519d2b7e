"""Bearer-token authentication and guards.

Each API app verifies tokens for its own audience only; the middleware leaves the verified
``TokenClaims`` on ``request.auth``. Guards then narrow by token kind, service role or user role.
Routes marked ``exclude_from_auth=True`` (health, the OpenAPI document) need no token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from airlock.core.http.blocking import Blocking
from airlock.core.http.problems import Problem
from airlock.core.tokens import ServiceRole, TokenClaims, TokenKind, TokenVerifier, UserRole

#: Guards are coroutines: Litestar runs a synchronous guard in a worker thread, a thread hop
#: per guard per request for a check that only reads the token's claims.
Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: TokenVerifier,
        audience: str,
        exclude: list[str],
        blocking: Blocking | None = None,
    ) -> None:
        super().__init__(app, exclude=exclude)
        self.verifier = verifier
        self.audience = audience
        self.blocking = blocking or Blocking(inline=False)

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException(
                f"missing bearer token: send 'Authorization: Bearer <token>' "
                f"with a token issued for the {self.audience} API",
                # RFC 6750 §3: a request with no credentials gets the scheme, without an error.
                headers={"WWW-Authenticate": "Bearer"},
            )
        if self.verifier.blocking:
            # A DB query: run as the app runs blocking work (airlock.core.http.blocking).
            claims = await self.blocking.call(self.verifier.verify, token.strip(), self.audience)
        else:
            claims = self.verifier.verify(token.strip(), self.audience)
        return AuthenticationResult(user=claims.sub, auth=claims)


def claims_of(connection: ASGIConnection[Any, Any, Any, Any]) -> TokenClaims:
    claims = connection.scope.get("auth")
    if not isinstance(claims, TokenClaims):
        raise NotAuthorizedException("this endpoint needs a bearer token")
    return claims


def require_kind(*kinds: TokenKind) -> Guard:
    allowed = ", ".join(kinds)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        claims = claims_of(connection)
        if claims.kind not in kinds:
            raise Problem(
                403,
                f"a {claims.kind} token may not call this endpoint; it needs: {allowed}",
                slug="forbidden-token-kind",
            )

    return guard


def require_service_role(*roles: ServiceRole) -> Guard:
    allowed = ", ".join(roles)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        claims = claims_of(connection)
        if claims.kind is not TokenKind.SERVICE or claims.role not in roles:
            held = claims.role or claims.kind
            raise Problem(
                403,
                f"role {held} may not call this endpoint; it needs: {allowed}",
                slug="forbidden-role",
            )

    return guard


def require_user_role(minimum: UserRole) -> Guard:
    """Roles are ordered: admin can do what op can, op what viewer can."""
    order = [UserRole.VIEWER, UserRole.OP, UserRole.ADMIN]

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        claims = claims_of(connection)
        rank = max((order.index(r) for r in claims.roles), default=-1)
        if claims.kind is not TokenKind.USER or rank < order.index(minimum):
            raise Problem(403, f"this needs the {minimum} role or higher", slug="forbidden-role")

    return guard
