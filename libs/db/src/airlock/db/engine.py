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

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError
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
    engine = create_engine(parsed, echo=echo, pool_use_lifo=True, **pool)
    _ping_idle_connections(engine, PING_IDLE_AFTER_S)
    return engine


#: A pooled PostgreSQL connection unused for this long is pinged before use.
PING_IDLE_AFTER_S = 2.0


def _ping_idle_connections(engine: Engine, idle_after_s: float) -> None:
    """Check a pooled connection before use only when it sat idle ``idle_after_s`` or longer.

    ``pool_pre_ping`` costs a round trip on every checkout, a quarter of a task's end on
    PostgreSQL; a connection returned to the pool a moment ago was working a moment ago. One
    that has waited — through a server restart, an idle timeout, a network cut — is pinged,
    and replaced if the ping fails. The pool hands out the most recently used connection first
    (``pool_use_lifo``), so under load the same few stay warm and the rest age into a ping.
    """

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < idle_after_s:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection failed its ping: {exc}") from exc
        if not alive:
            raise DisconnectionError("a pooled connection failed its ping")


def upsert_insert(dialect: str) -> Callable[..., Any]:
    """``insert`` of ``dialect``, the one with ``ON CONFLICT`` (``on_conflict_do_nothing`` /
    ``on_conflict_do_update``): SQLite's unless it is PostgreSQL. Imported when first asked
    for, so a SQLite deployment never loads the PostgreSQL dialect (2 MB a process)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


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

    _queue_writers(engine, max(busy_timeout_ms / 1000, WRITE_TURN_TIMEOUT_S))
    return engine


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
#: Longest a writer waits for its turn in this process before trying SQLite's lock anyway.
WRITE_TURN_TIMEOUT_S = 30.0


def _queue_writers(engine: Engine, timeout_s: float) -> None:
    """Let one connection of this process write at a time; the others wait their turn.

    SQLite has one writer per database. Without this, request threads that write at once
    collide on SQLite's lock, and the loser's busy handler sleeps in growing steps (1, 2, 5,
    10 ms…) however soon the lock frees; under a burst of task ends those sleeps add up. A
    connection takes this lock before its first write and gives it back when it goes back to
    the pool (after its transaction ended), so a waiting writer starts the
    moment the last one commits. Other processes (the scheduler) still meet SQLite's own lock
    and busy timeout, and so does a writer that waited ``timeout_s`` here (a transaction left
    open that long is a bug; the waiter then fails as it would have without the queue).
    """
    lock = threading.Lock()

    @event.listens_for(engine, "before_cursor_execute")
    def _before_write(
        conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        info = conn.info
        if not info.get("writing") and statement.lstrip()[:7].upper().startswith(_WRITES):
            info["writing"] = lock.acquire(timeout=timeout_s)

    # Given back once the connection is back in the pool: after its COMMIT or ROLLBACK has
    # run (a Connection's "commit" event comes before the COMMIT itself).
    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record.info.pop("writing", False):
            lock.release()

    @event.listens_for(engine, "invalidate")
    def _dropped(_dbapi_connection: Any, record: Any, _exception: Any) -> None:
        if record.info.pop("writing", False):
            lock.release()
