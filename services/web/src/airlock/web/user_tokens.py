"""Token checks the Web API makes beyond the signature: revocation, and the user behind a token.

A user token is refused (401) once its ``jti`` is revoked, once its user is deactivated, or if it
was issued before the user's ``tokens_valid_after`` (set when an admin deactivates a user or
changes their roles or bundles), so no token outlives the rights it was issued with. All three
questions are one round trip to the DB per request.

``iat`` has whole seconds, so a token issued in the second of the cut-off is refused too;
:func:`wait_past_cut_off` makes a login in that same second wait for the next one.

A user token whose subject is not a user row (issued with ``airlock tokens issue --kind user``
by someone holding the signing key) is judged by its signature and revocation alone.
"""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import exists, select

from airlock.core.settings import Settings
from airlock.core.tokens import RevokedToken, TokenClaims, TokenVerifier
from airlock.core.tokens.keys import load_public_key
from airlock.db import RevokedToken as RevokedTokenRow
from airlock.db import User
from airlock.db.database import Database


class UserTokenVerifier(TokenVerifier):
    def __init__(self, settings: Settings, db: Database) -> None:
        super().__init__(
            load_public_key(settings.public_key_path),
            issuer=settings.auth.issuer,
            leeway_s=settings.auth.leeway_s,
            blocking=True,
        )
        self._db = db

    def verify(self, token: str, audience: str) -> TokenClaims:
        claims = super().verify(token, audience)
        revoked, is_active, valid_after = self._lookup(claims)
        if revoked:
            raise RevokedToken(f"token {claims.jti} has been revoked")
        if is_active is False:
            raise RevokedToken(f"user {claims.sub!r} is deactivated; ask an admin")
        if valid_after is not None and claims.iat <= int(valid_after.timestamp()):
            raise RevokedToken(
                f"the rights of user {claims.sub!r} changed after this token was issued; "
                "log in again (or create a new API token)"
            )
        return claims

    def _lookup(self, claims: TokenClaims) -> tuple[bool, bool | None, dt.datetime | None]:
        """Whether the token is revoked, and its user's state (None, None: no such user)."""
        revoked = exists().where(RevokedTokenRow.jti == claims.jti)
        user = select(User.is_active).where(User.username == claims.sub)
        with self._db.sessions() as session:
            row = session.execute(
                select(
                    revoked.label("revoked"),
                    user.with_only_columns(User.is_active).scalar_subquery(),
                    user.with_only_columns(User.tokens_valid_after).scalar_subquery(),
                )
            ).one()
        return bool(row[0]), row[1], row[2]


def wait_past_cut_off(valid_after: dt.datetime | None) -> None:
    """Sleep until the second after ``valid_after``, if we are still in it (at most 1 s)."""
    if valid_after is None:
        return
    first_valid_second = int(valid_after.timestamp()) + 1
    remaining = first_valid_second - time.time()
    if remaining > 0:
        time.sleep(min(remaining, 1.0))
