"""Users, managed by admins: list, create, read, change roles, team scope, password, deactivate.

Managing users takes an admin who is not limited to bundles: a team-scoped admin could otherwise
create an unscoped one. Taking rights away (roles, bundles, deactivation) or setting a new
password (someone may have learnt the old one) cuts off every token the user holds — login and
API tokens alike — through ``tokens_valid_after`` and the revocation list, so the change holds
from the next request, not from the next login. The last active unscoped
admin can be neither demoted nor deactivated: someone must be able to undo mistakes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from airlock.core.http import OFF_LOOP, Problem, require_user_role
from airlock.core.passwords import hash_password
from airlock.core.tokens import UserRole
from airlock.db import ApiToken, RevokedToken, User
from airlock.db.base import ID_LENGTH
from airlock.models.web_users import UserCreate, UserList, UserPatch, UserView
from airlock.web.access import require_unscoped_admin
from airlock.web.filters import contains, json_list_has, plain_text
from airlock.web.listing import Offset, Sorting, page_of

USER_SORTING = Sorting(
    {"username": User.username, "created_at": User.created_at, "id": User.id},
    default="username",
    tiebreak=[User.id],
)
ROLE_NAMES = [role.value for role in UserRole]


class UserController(Controller):
    path = "/users"
    tags = ["users"]
    guards = [require_user_role(UserRole.ADMIN), require_unscoped_admin("managing users")]

    @get("/", operation_id="ListUsers", sync_to_thread=True)
    def list_users(
        self,
        session: NamedDependency[Session],
        limit: FromQuery[int | None] = None,
        offset: Offset = None,
        order_by: FromQuery[str | None] = None,
        username_pattern: FromQuery[str | None] = None,
        role: FromQuery[str | None] = None,
        is_active: FromQuery[bool | None] = None,
    ) -> UserList:
        plain_text("username_pattern", username_pattern)
        plain_text("role", role)
        query = select(User)
        if username_pattern:
            query = query.where(contains(User.username, username_pattern))
        if role:
            query = query.where(json_list_has(session, User.roles, _check_roles([role])[0]))
        if is_active is not None:
            query = query.where(User.is_active.is_(is_active))
        rows, total = page_of(session, query, USER_SORTING.parse(order_by), limit, offset)
        return UserList(users=[user_view(user) for user in rows], total_entries=total)

    @post("/", operation_id="CreateUser", sync_to_thread=True, status_code=201, opt=OFF_LOOP)
    def create_user(
        self, data: JSONBody[UserCreate], session: NamedDependency[Session]
    ) -> UserView:
        plain_text("username", data.username)
        username = data.username.strip()
        if not username or len(username) > ID_LENGTH or username != data.username:
            raise Problem(
                400,
                f"username {data.username!r} must be 1 to {ID_LENGTH} characters "
                "without leading or trailing spaces",
                slug="bad-username",
            )
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            raise Problem(409, f"user {username!r} already exists", slug="user-exists")
        user = User(
            username=username,
            password_hash=hash_new_password(data.password),
            roles=_check_roles(data.roles),
            bundles=_check_bundles(data.bundles),
            is_active=True,
        )
        session.add(user)
        session.commit()
        return user_view(user)

    @get("/{username:str}", operation_id="GetUser", sync_to_thread=True)
    def get_user(self, username: FromPath[str], session: NamedDependency[Session]) -> UserView:
        return user_view(_user(session, username))

    @patch("/{username:str}", operation_id="PatchUser", sync_to_thread=True, opt=OFF_LOOP)
    def patch_user(
        self,
        request: Request[Any, Any, Any],
        username: FromPath[str],
        data: JSONBody[UserPatch],
        session: NamedDependency[Session],
    ) -> UserView:
        """Change what the body names; leave the rest. Taking rights away or a new password ends
        the user's tokens."""
        user = _user(session, username)
        was_unscoped_admin = _is_unscoped_admin(user.roles, user.bundles, user.is_active)
        cut_off = False
        if not isinstance(data.roles, msgspec.UnsetType):
            roles = _check_roles(data.roles)
            cut_off |= roles != list(user.roles)
            user.roles = roles
        if not isinstance(data.bundles, msgspec.UnsetType):
            bundles = _check_bundles(data.bundles)
            cut_off |= bundles != user.bundles
            user.bundles = bundles
        if not isinstance(data.is_active, msgspec.UnsetType):
            cut_off |= user.is_active and not data.is_active
            user.is_active = data.is_active
        if not isinstance(data.password, msgspec.UnsetType):
            user.password_hash = hash_new_password(data.password)
            cut_off = True
        if was_unscoped_admin and not _is_unscoped_admin(user.roles, user.bundles, user.is_active):
            _keep_one_admin(session, user)
        if cut_off:
            end_tokens(session, user)
        session.commit()
        return user_view(user)


def end_tokens(session: Session, user: User) -> None:
    """Refuse every token ``user`` holds from now on, and mark their API tokens revoked."""
    now = dt.datetime.now(dt.UTC)
    user.tokens_valid_after = now
    live = session.execute(
        select(ApiToken.jti, ApiToken.expires_at).where(
            ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now
        )
    ).all()
    known = set(
        session.scalars(select(RevokedToken.jti).where(RevokedToken.jti.in_([j for j, _ in live])))
    )
    session.add_all(
        RevokedToken(jti=jti, expires_at=expires_at) for jti, expires_at in live if jti not in known
    )
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def user_view(user: User) -> UserView:
    return UserView(
        username=user.username,
        roles=list(user.roles),
        bundles=user.bundles,
        is_active=user.is_active,
        created_at=user.created_at,
    )


def _user(session: Session, username: str) -> User:
    plain_text("username", username)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise Problem(404, f"user {username!r} not found", slug="user-not-found")
    return user


def hash_new_password(password: str) -> str:
    """The hash to store for ``password``; a 400 naming what makes it too weak."""
    try:
        return hash_password(password)
    except ValueError as exc:
        raise Problem(400, str(exc), slug="weak-password") from None


def _check_roles(roles: list[str]) -> list[str]:
    unknown = [role for role in roles if role not in ROLE_NAMES]
    if unknown or not roles:
        raise Problem(
            400,
            f"roles must be one or more of: {', '.join(ROLE_NAMES)} (got {roles!r})",
            slug="bad-role",
        )
    return sorted(set(roles), key=ROLE_NAMES.index)


def _check_bundles(bundles: list[str] | None) -> list[str] | None:
    if bundles is None:
        return None
    plain_text("bundles", bundles)
    if not bundles or any(not b.strip() or len(b) > ID_LENGTH for b in bundles):
        raise Problem(
            400,
            "bundles must be a non-empty list of bundle names, or null for every bundle",
            slug="bad-bundles",
        )
    return sorted(set(bundles))


def _is_unscoped_admin(roles: list[str], bundles: list[str] | None, is_active: bool) -> bool:
    return is_active and bundles is None and UserRole.ADMIN.value in roles


def _keep_one_admin(session: Session, changed: User) -> None:
    # Filtered in Python: a JSON "null" and an SQL NULL both mean "every bundle".
    others = session.scalars(
        select(User).where(User.is_active.is_(True), User.id != changed.id)
    ).all()
    if not any(_is_unscoped_admin(u.roles, u.bundles, u.is_active) for u in others):
        session.rollback()
        raise Problem(
            409,
            f"{changed.username!r} is the last active admin for every bundle; "
            "make another admin first",
            slug="last-admin",
        )
