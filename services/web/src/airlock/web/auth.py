"""Log in with a username and password and get a user token; ask who a token belongs to."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of, problems
from airlock.core.passwords import verify_password
from airlock.core.tokens import TokenKind
from airlock.core.tokens.signer import TokenSigner
from airlock.db import User
from airlock.web.user_tokens import wait_past_cut_off


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: str = msgspec.field()
    password: str = msgspec.field()


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int


class Identity(msgspec.Struct):
    kind: str
    subject: str
    roles: list[str]
    bundles: list[str] | None
    expires_at: int


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post(
        "/token",
        exclude_from_auth=True,
        operation_id="CreateToken",
        status_code=200,
        responses=problems(401),
        sync_to_thread=True,
    )
    def login(
        self, data: JSONBody[LoginRequest], session: NamedDependency[Session], state: State
    ) -> TokenResponse:
        user = session.scalar(select(User).where(User.username == data.username))
        if (
            user is None
            or not user.is_active
            or not verify_password(user.password_hash, data.password)
        ):
            raise Problem(401, "wrong username or password", slug="bad-credentials")
        wait_past_cut_off(user.tokens_valid_after)
        ttl = state["settings"].web.user_token_ttl_s
        signer: TokenSigner = state["signer"]
        token = signer.issue(
            TokenKind.USER, user.username, ttl, roles=list(user.roles), bundles=user.bundles
        )
        return TokenResponse(access_token=token, token_type="bearer", expires_in=ttl)

    @get("/me", operation_id="GetCurrentUser")
    async def me(self, request: Request[Any, Any, Any]) -> Identity:
        claims = claims_of(request)
        return Identity(
            kind=claims.kind,
            subject=claims.sub,
            roles=[str(r) for r in claims.roles],
            bundles=claims.bundles,
            expires_at=claims.exp,
        )
