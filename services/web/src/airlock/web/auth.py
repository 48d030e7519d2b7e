"""Log in with a username and password and get a user token; ask who a token belongs to;
change one's own password.

Failed log-ins are throttled and an unknown user name costs what a known one does
(:mod:`airlock.web.login_throttle`). A wrong current password when changing one's own counts as
a failed log-in. A changed password ends every token the user held (someone may have learnt the
old password, or taken a token); the answer carries a new one.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.http import OFF_LOOP, Problem, claims_of, problems, require_user_role
from airlock.core.passwords import verify_password
from airlock.core.settings import WebSettings
from airlock.core.tokens import TokenKind, UserRole
from airlock.core.tokens.signer import TokenSigner
from airlock.db import User
from airlock.models.web_users import Identity, LoginRequest, PasswordChange, TokenResponse
from airlock.web.login_throttle import LoginThrottle, verify_unknown_user
from airlock.web.user_tokens import wait_past_cut_off
from airlock.web.users import end_tokens, hash_new_password


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post(
        "/token",
        exclude_from_auth=True,
        operation_id="CreateToken",
        status_code=200,
        responses=problems(401, 429),
        sync_to_thread=True,
        opt=OFF_LOOP,  # Argon2: tens of ms of CPU per attempt, never on the event loop
    )
    def login(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[LoginRequest],
        session: NamedDependency[Session],
        signer: NamedDependency[TokenSigner],
        web_settings: NamedDependency[WebSettings],
    ) -> TokenResponse:
        throttle = LoginThrottle(web_settings)
        address = request.client.host if request.client else "unknown"
        throttle.check(session, data.username, address)
        user = session.scalar(select(User).where(User.username == data.username))
        # One hash whatever the name: an unknown or inactive user answers as slowly as any.
        if user is None:
            matches = verify_unknown_user(data.password)
        else:
            matches = verify_password(user.password_hash, data.password)
        if user is None or not user.is_active or not matches:
            throttle.failed(session, data.username, address)
            raise Problem(401, "wrong username or password", slug="bad-credentials")
        throttle.succeeded(session, data.username)
        session.commit()
        return _issue(user, signer, web_settings)

    @post(
        "/password",
        operation_id="ChangeOwnPassword",
        status_code=200,
        guards=[require_user_role(UserRole.VIEWER)],
        responses=problems(400, 401, 429),
        sync_to_thread=True,
        opt=OFF_LOOP,  # two Argon2 hashes
    )
    def change_password(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[PasswordChange],
        session: NamedDependency[Session],
        signer: NamedDependency[TokenSigner],
        web_settings: NamedDependency[WebSettings],
    ) -> TokenResponse:
        """Change your own password (the current one proves it is you). Every token you held
        stops working, API tokens too; the answer is a new login token."""
        username = claims_of(request).sub
        throttle = LoginThrottle(web_settings)
        address = request.client.host if request.client else "unknown"
        throttle.check(session, username, address)
        user = session.scalar(select(User).where(User.username == username))
        if user is None or not user.is_active:
            raise Problem(401, f"user {username!r} no longer exists or is inactive", slug="no-user")
        if not verify_password(user.password_hash, data.current_password):
            throttle.failed(session, username, address)
            session.commit()
            raise Problem(401, "the current password is wrong", slug="bad-credentials")
        if data.new_password == data.current_password:
            raise Problem(400, "the new password is the current one", slug="same-password")
        user.password_hash = hash_new_password(data.new_password)
        end_tokens(session, user)
        throttle.succeeded(session, username)
        session.commit()
        return _issue(user, signer, web_settings)

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


def _issue(user: User, signer: TokenSigner, web_settings: WebSettings) -> TokenResponse:
    """A login token for ``user``, issued after any cut-off of their older tokens."""
    wait_past_cut_off(user.tokens_valid_after)
    ttl = web_settings.user_token_ttl_s
    token = signer.issue(
        TokenKind.USER, user.username, ttl, roles=list(user.roles), bundles=user.bundles
    )
    return TokenResponse(access_token=token, token_type="bearer", expires_in=ttl)
