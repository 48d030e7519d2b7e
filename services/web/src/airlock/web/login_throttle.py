"""Log-in defences: failed attempts throttled per user name and per client address, and the same
cost for a user name that does not exist as for one that does.

Guessing passwords takes many attempts, so after ``[web] login_max_failures_per_user`` failures
for one user name (or ``login_max_failures_per_address`` from one client address) within
``login_failure_window_s``, further attempts are answered 429 with ``Retry-After`` for
``login_block_s`` — doubling with each failure past the limit, up to an hour — before any
password is hashed. A success clears its user name's count. The counts are rows in the DB
(``login_failure``), so every Web API replica enforces the same limit.

A user name that does not exist is checked against a dummy Argon2 hash of the same cost, so the
answer's timing does not tell which user names exist.
"""

from __future__ import annotations

import datetime as dt
import functools
import math

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.orm import Session

from airlock.core.http import Problem
from airlock.core.passwords import hash_password, verify_password
from airlock.core.settings import WebSettings
from airlock.db import LoginFailure, upsert_insert
from airlock.db.base import ID_LENGTH

#: The longest block, however many failures.
MAX_BLOCK_S = 3600


@functools.cache
def _dummy_hash() -> str:
    return hash_password("no user has this password")


def verify_unknown_user(password: str) -> bool:
    """Spend what checking a real user's password costs, then say no."""
    verify_password(_dummy_hash(), password)
    return False


class LoginThrottle:
    def __init__(self, settings: WebSettings) -> None:
        self._settings = settings

    def check(self, session: Session, username: str, address: str) -> None:
        """Refuse (429) while the user name or the address is blocked."""
        now = dt.datetime.now(dt.UTC)
        until = session.scalar(
            select(LoginFailure.blocked_until)
            .where(
                LoginFailure.key.in_(_keys(username, address)),
                LoginFailure.blocked_until > now,
            )
            .order_by(LoginFailure.blocked_until.desc())
            .limit(1)
        )
        if until is None:
            return
        wait = max(1, math.ceil((until - now).total_seconds()))
        raise Problem(
            429,
            f"too many failed log-ins for this user name or from this address; try again in "
            f"{wait} s",
            slug="too-many-log-ins",
            headers={"Retry-After": str(wait)},
        )

    def failed(self, session: Session, username: str, address: str) -> None:
        """Count a failed attempt against the user name and the address; block past a limit."""
        settings = self._settings
        now = dt.datetime.now(dt.UTC)
        window_start = now - dt.timedelta(seconds=settings.login_failure_window_s)
        session.execute(
            delete(LoginFailure).where(
                LoginFailure.window_start < window_start,
                or_(LoginFailure.blocked_until.is_(None), LoginFailure.blocked_until < now),
            )
        )
        user_key, address_key = _keys(username, address)
        limits = {
            user_key: settings.login_max_failures_per_user,
            address_key: settings.login_max_failures_per_address,
        }
        insert = upsert_insert(session.get_bind().dialect.name)
        for key, limit in limits.items():
            expired = LoginFailure.window_start < window_start
            statement = insert(LoginFailure).values(key=key, failures=1, window_start=now)
            failures = session.scalar(
                statement.on_conflict_do_update(
                    index_elements=[LoginFailure.key],
                    set_={
                        "failures": case((expired, 1), else_=LoginFailure.failures + 1),
                        "window_start": case((expired, now), else_=LoginFailure.window_start),
                    },
                ).returning(LoginFailure.failures)
            )
            if failures is not None and failures >= limit:
                block_s = min(settings.login_block_s * 2 ** min(failures - limit, 12), MAX_BLOCK_S)
                session.execute(
                    update(LoginFailure)
                    .where(LoginFailure.key == key)
                    .values(blocked_until=now + dt.timedelta(seconds=block_s))
                )
        session.commit()

    def succeeded(self, session: Session, username: str) -> None:
        """Forget the user name's failures (the caller commits)."""
        session.execute(delete(LoginFailure).where(LoginFailure.key == _keys(username, "")[0]))


def _keys(username: str, address: str) -> tuple[str, str]:
    return f"user:{username[:ID_LENGTH]}", f"address:{address[:ID_LENGTH]}"
