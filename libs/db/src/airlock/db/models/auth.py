"""People who log in to the Web API, their API tokens, and tokens revoked before they expire.

A user's ``roles`` are names (``admin``, ``op``, ``viewer``); ``bundles`` limits them to some
bundles (team scope) and is empty (NULL) for "all bundles". Revoked token ids are kept until the
token would have expired anyway (``expires_at``), after which the row can be purged.

An :class:`ApiToken` is a long-lived user token made for automation: the JWT itself is shown
once and never stored; the row keeps its ``jti`` (to revoke it), its name, and the roles and
bundles it carries (the creator's, or fewer). Revoking one also puts its ``jti`` on the
revocation list every request is checked against. ``tokens_valid_after`` on a user refuses any of
their tokens issued before it: set when a user is deactivated or their roles change, so a token
never outlives the rights it was issued with, and when their password changes.

A :class:`LoginFailure` counts the failed log-ins of one user name or one client address in a
window, and blocks further attempts for a while once there are too many
(``airlock.web.login_throttle``); a row in the DB holds for every Web API replica alike.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from airlock.db.base import ID_LENGTH, Base, UtcDateTime, utcnow


class User(Base):
    # "user" is reserved in PostgreSQL.
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(500))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    bundles: Mapped[list[str] | None] = mapped_column(JSON)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: Tokens of this user issued (``iat``) before this instant are refused.
    tokens_valid_after: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class RevokedToken(Base):
    __tablename__ = "revoked_token"

    jti: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    jti: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(ID_LENGTH))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    bundles: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class LoginFailure(Base):
    __tablename__ = "login_failure"

    #: ``user:<name>`` or ``address:<ip>``.
    key: Mapped[str] = mapped_column(String(ID_LENGTH + 10), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    #: The first failure of the current window.
    window_start: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    #: No attempt is judged before this instant (NULL: not blocked).
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, index=True)
