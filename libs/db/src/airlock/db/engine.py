"""Engines and sessions for the two supported databases: SQLite (embedded) and PostgreSQL.

Every control-zone process builds its engine here so that URL handling and connection setup are
the same everywhere:

- ``postgresql://`` and ``postgres://`` URLs are rewritten to ``postgresql+psycopg://`` (psycopg 3);
  a URL that already names a driver is used as given.
- SQLite connections are set up for several processes sharing one file: WAL journal (readers do
  not block the writer), a busy timeout instead of an immediate "database is locked", foreign keys
  enforced, ``synchronous=NORMAL`` (safe with WAL). SQLite has no row locks, so correctness comes
  from conditional updates (:mod:`airlock.db.state`), not from ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_SQLITE_BUSY_TIMEOUT_MS = 5000
DEFAULT_POOL_SIZE = 20


def normalize_url(url: str | URL) -> URL:
    """Return ``url`` with a concrete driver: psycopg 3 for PostgreSQL, pysqlite for SQLite."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(
    url: str | URL,
    *,
    echo: bool = False,
    sqlite_busy_timeout_ms: int = DEFAULT_SQLITE_BUSY_TIMEOUT_MS,
    pool_size: int = DEFAULT_POOL_SIZE,
) -> Engine:
    """Create the engine for an Airlock metadata database URL.

    ``pool_size`` connections are kept open once made, as many again may be opened in a burst.
    An API server's request threads each hold one while they work: a pool smaller than the
    usual concurrency opens and closes a connection per request (on PostgreSQL a server
    process each time).
    """
    parsed = normalize_url(url)
    pool = {"pool_size": pool_size, "max_overflow": pool_size}
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(
            parsed, echo=echo, busy_timeout_ms=sqlite_busy_timeout_ms, pool=pool
        )
    return create_engine(parsed, echo=echo, pool_pre_ping=True, **pool)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (they are converted to Structs then)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def _make_sqlite_engine(
    url: URL, *, echo: bool, busy_timeout_ms: int, pool: dict[str, int]
) -> Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    in_memory = not database or database == ":memory:" or "mode=memory" in str(url)
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False},
        **({} if in_memory else pool),
    )

    @event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    return engine
