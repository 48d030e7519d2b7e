"""API tokens: named, expiring, revocable user tokens for scripts and CI.

An API token is an ordinary user JWT (audience ``web``) whose ``jti`` is remembered in the
``api_token`` table, so it can be listed (without the token itself, which is shown once, at
creation) and revoked (its ``jti`` goes on the revocation list every request is checked against).
It carries its creator's roles and bundles, or fewer, never more. Only a login token may create
one: an API token cannot mint longer-lived copies of itself.

Anyone with a user role manages their own tokens; an admin sees and revokes everyone's.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.http import Problem, claims_of, require_user_role
from airlock.core.tokens import TokenClaims, TokenKind, UserRole
from airlock.core.tokens.signer import TokenSigner
from airlock.db import ApiToken, RevokedToken, User
from airlock.db.base import ID_LENGTH
from airlock.models.web_users import ApiTokenCreate, ApiTokenCreated, ApiTokenList, ApiTokenView
from airlock.web.filters import plain_text
from airlock.web.listing import Offset, Sorting, page_of
from airlock.web.user_tokens import wait_past_cut_off

DEFAULT_TTL = dt.timedelta(days=90)
MAX_TTL = dt.timedelta(days=366)
MIN_TTL = dt.timedelta(minutes=1)
ROLE_ORDER = [UserRole.VIEWER, UserRole.OP, UserRole.ADMIN]

TOKEN_SORTING = Sorting(
    {
        "id": ApiToken.id,
        "name": ApiToken.name,
        "created_at": ApiToken.created_at,
        "expires_at": ApiToken.expires_at,
        "username": User.username,
    },
    default="-created_at",
    tiebreak=[ApiToken.id],
)


class ApiTokenController(Controller):
    path = "/apiTokens"
    tags = ["auth"]
    guards = [require_user_role(UserRole.VIEWER)]

    @post("/", operation_id="CreateApiToken", sync_to_thread=True, status_code=201)
    def create_token(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ApiTokenCreate],
        session: NamedDependency[Session],
        signer: NamedDependency[TokenSigner],
    ) -> ApiTokenCreated:
        """A new token, returned in ``token`` this once; keep it, it is never shown again."""
        claims = claims_of(request)
        if session.scalar(select(ApiToken.id).where(ApiToken.jti == claims.jti)) is not None:
            raise Problem(
                403,
                "an API token cannot create API tokens; log in with a password first",
                slug="forbidden-token-kind",
            )
        user = session.scalar(select(User).where(User.username == claims.sub))
        if user is None:
            raise Problem(
                403,
                f"API tokens belong to users; {claims.sub!r} is not one "
                "(create it with `airlock users create`)",
                slug="not-a-user",
            )
        plain_text("name", data.name)
        plain_text("bundles", data.bundles)
        name = data.name.strip()
        if not name or len(name) > ID_LENGTH:
            raise Problem(400, f"name must be 1 to {ID_LENGTH} characters", slug="bad-name")
        now = dt.datetime.now(dt.UTC)
        expires_at = _expiry(data.expires_at, now)
        roles = _roles(claims, data.roles)
        bundles = _bundles(claims, data.bundles)
        if session.scalar(
            select(ApiToken.id).where(
                ApiToken.user_id == user.id,
                ApiToken.name == name,
                ApiToken.revoked_at.is_(None),
                ApiToken.expires_at > now,
            )
        ):
            raise Problem(
                409,
                f"you already have an active API token named {name!r}; revoke it or pick "
                "another name",
                slug="api-token-exists",
            )
        wait_past_cut_off(user.tokens_valid_after)
        jti = uuid.uuid4().hex
        ttl_s = int((expires_at - now).total_seconds())
        token = signer.issue(
            TokenKind.USER, user.username, ttl_s, roles=roles, bundles=bundles, jti=jti
        )
        row = ApiToken(
            jti=jti,
            user_id=user.id,
            name=name,
            roles=roles,
            bundles=bundles,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ttl_s),
        )
        session.add(row)
        session.commit()
        view = _view(row, user.username, now)
        return ApiTokenCreated(**{f: getattr(view, f) for f in view.__struct_fields__}, token=token)

    @get("/", operation_id="ListApiTokens", sync_to_thread=True)
    def list_tokens(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[Session],
        limit: FromQuery[int | None] = None,
        offset: Offset = None,
        order_by: FromQuery[str | None] = None,
        username: FromQuery[str | None] = None,
        active_only: FromQuery[bool] = False,
    ) -> ApiTokenList:
        """Your API tokens (an admin sees everyone's; ``username`` narrows to one user's)."""
        claims = claims_of(request)
        plain_text("username", username)
        query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
        if not _is_admin(claims):
            if username is not None and username != claims.sub:
                raise Problem(
                    403, "only an admin may list another user's tokens", slug="forbidden-role"
                )
            username = claims.sub
        if username is not None:
            query = query.where(User.username == username)
        now = dt.datetime.now(dt.UTC)
        if active_only:
            query = query.where(ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)
        rows, total = page_of(session, query, TOKEN_SORTING.parse(order_by), limit, offset)
        return ApiTokenList(
            api_tokens=[_view(token, owner, now) for token, owner in rows], total_entries=total
        )

    @delete("/{token_id:int}", operation_id="RevokeApiToken", sync_to_thread=True)
    def revoke_token(
        self,
        request: Request[Any, Any, Any],
        token_id: FromPath[int],
        session: NamedDependency[Session],
    ) -> None:
        """Revoke a token at once; revoking one already revoked changes nothing."""
        claims = claims_of(request)
        found = session.execute(
            select(ApiToken, User.username)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.id == token_id)
        ).one_or_none()
        if found is None or (found[1] != claims.sub and not _is_admin(claims)):
            raise Problem(404, f"API token {token_id} not found", slug="api-token-not-found")
        token: ApiToken = found[0]
        if token.revoked_at is None:
            token.revoked_at = dt.datetime.now(dt.UTC)
        if session.get(RevokedToken, token.jti) is None:
            session.add(RevokedToken(jti=token.jti, expires_at=token.expires_at))
        session.commit()


def _is_admin(claims: TokenClaims) -> bool:
    """An admin for every bundle; a team-scoped admin manages only their own tokens."""
    return UserRole.ADMIN in claims.roles and claims.bundles is None


def _expiry(requested: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    if requested is None:
        return now + DEFAULT_TTL
    if requested < now + MIN_TTL or requested > now + MAX_TTL:
        raise Problem(
            400,
            f"expires_at must be between a minute and {MAX_TTL.days} days from now, "
            f"not {requested.isoformat()}",
            slug="bad-expiry",
        )
    return requested.astimezone(dt.UTC)


def _roles(claims: TokenClaims, requested: list[str] | None) -> list[str]:
    held = max((ROLE_ORDER.index(r) for r in claims.roles), default=-1)
    if requested is None:
        return [str(role) for role in claims.roles]
    names = [role.value for role in ROLE_ORDER]
    if not requested or any(role not in names for role in requested):
        raise Problem(
            400,
            f"roles must be one or more of: {', '.join(names)} (got {requested!r})",
            slug="bad-role",
        )
    above = [role for role in requested if names.index(role) > held]
    if above:
        raise Problem(
            403,
            f"an API token cannot have more rights than you: you do not hold {', '.join(above)}",
            slug="forbidden-role",
        )
    return sorted(set(requested), key=names.index)


def _bundles(claims: TokenClaims, requested: list[str] | None) -> list[str] | None:
    if requested is None:
        return claims.bundles
    if not requested:
        raise Problem(400, "bundles must be a non-empty list, or left out", slug="bad-bundles")
    if claims.bundles is not None:
        outside = sorted(set(requested) - set(claims.bundles))
        if outside:
            raise Problem(
                403,
                f"an API token cannot reach bundles you cannot: {', '.join(outside)}",
                slug="forbidden-bundle",
            )
    return sorted(set(requested))


def _view(token: ApiToken, username: str, now: dt.datetime) -> ApiTokenView:
    if token.revoked_at is not None:
        status = "revoked"
    elif token.expires_at <= now:
        status = "expired"
    else:
        status = "active"
    return ApiTokenView(
        id=token.id,
        name=token.name,
        username=username,
        roles=list(token.roles),
        bundles=token.bundles,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        status=status,
    )
