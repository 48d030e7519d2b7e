"""One handle on the metadata DB for a control-zone process: engine, sessions, and the few
questions every API app asks of it (is the DB up, is this token revoked)."""

from __future__ import annotations

from sqlalchemy import select, text

from airlock.db.engine import (
    DEFAULT_POOL_SIZE,
    DEFAULT_SQLITE_BUSY_TIMEOUT_MS,
    make_engine,
    make_session_factory,
)
from airlock.db.models.auth import RevokedToken


class Database:
    def __init__(
        self,
        url: str,
        *,
        sqlite_busy_timeout_ms: int = DEFAULT_SQLITE_BUSY_TIMEOUT_MS,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        self.engine = make_engine(
            url, sqlite_busy_timeout_ms=sqlite_busy_timeout_ms, pool_size=pool_size
        )
        self.sessions = make_session_factory(self.engine)

    @property
    def is_sqlite(self) -> bool:
        """An embedded SQLite file, as opposed to a database server."""
        return self.engine.dialect.name == "sqlite"

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def is_revoked(self, jti: str) -> bool:
        with self.sessions() as session:
            return (
                session.scalar(select(RevokedToken.jti).where(RevokedToken.jti == jti)) is not None
            )

    def close(self) -> None:
        self.engine.dispose()
