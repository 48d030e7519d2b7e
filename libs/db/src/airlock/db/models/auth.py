"""People who log in to the Web API, and tokens revoked before they expire.

A user's ``roles`` are names (``admin``, ``op``, ``viewer``); ``bundles`` limits them to some
bundles (team scope) and is empty (NULL) for "all bundles". Revoked token ids are kept until the
token would have expired anyway (``expires_at``), after which the row can be purged.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Integer, String
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


class RevokedToken(Base):
    __tablename__ = "revoked_token"

    jti: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
