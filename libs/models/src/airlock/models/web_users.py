"""Web API payloads about people: users (admin-managed) and API tokens (for automation).

``bundles`` is a user's team scope: the bundles whose DAGs, runs, logs, variables and connections
they may see. ``null`` means every bundle. An API token carries its creator's roles and bundles,
or fewer; the token itself appears only in :class:`ApiTokenCreated`, once.
"""

from __future__ import annotations

import msgspec

from airlock.models.types import AwareDatetime


class UserView(msgspec.Struct, kw_only=True, frozen=True):
    username: str
    roles: list[str]
    bundles: list[str] | None
    is_active: bool
    created_at: AwareDatetime


class UserList(msgspec.Struct, kw_only=True, frozen=True):
    users: list[UserView]
    total_entries: int


class UserCreate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    username: str
    password: str
    roles: list[str]
    bundles: list[str] | None = None


class UserPatch(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Fields left out stay as they are; ``"bundles": null`` lifts the team scope."""

    roles: list[str] | msgspec.UnsetType = msgspec.UNSET
    bundles: list[str] | msgspec.UnsetType | None = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    password: str | msgspec.UnsetType = msgspec.UNSET


class ApiTokenCreate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A new API token; roles and bundles default to the creator's own."""

    name: str
    expires_at: AwareDatetime | None = None
    roles: list[str] | None = None
    bundles: list[str] | None = None


class ApiTokenView(msgspec.Struct, kw_only=True, frozen=True):
    id: int
    name: str
    username: str
    roles: list[str]
    bundles: list[str] | None
    created_at: AwareDatetime
    expires_at: AwareDatetime
    revoked_at: AwareDatetime | None = None
    #: ``active``, ``expired`` or ``revoked``.
    status: str = "active"


class ApiTokenCreated(ApiTokenView, kw_only=True, frozen=True):
    """The new token with its secret: shown this once, never stored, never listed."""

    token: str = ""


class ApiTokenList(msgspec.Struct, kw_only=True, frozen=True):
    api_tokens: list[ApiTokenView]
    total_entries: int


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    """A person changing their own password: the current one proves it is them."""

    current_password: str
    new_password: str


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int


class Identity(msgspec.Struct):
    """Who a token belongs to, as the token says."""

    kind: str
    subject: str
    roles: list[str]
    bundles: list[str] | None
    #: Seconds since the epoch.
    expires_at: int
