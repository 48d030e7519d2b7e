from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from airlock.db import Bundle, make_engine, make_session_factory, normalize_url
from airlock.db import engine as engine_module


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u:p@db:5432/airlock", "postgresql+psycopg"),
        ("postgres://u@db/airlock", "postgresql+psycopg"),
        ("postgresql+psycopg2://u@db/airlock", "postgresql+psycopg2"),
        ("sqlite:///a.db", "sqlite"),
        ("sqlite+pysqlite:///a.db", "sqlite+pysqlite"),
    ],
)
def test_normalize_url_picks_psycopg3_only_when_no_driver_is_named(given: str, driver: str):
    assert normalize_url(given).drivername == driver


def test_postgres_engine_uses_psycopg3():
    engine = make_engine("postgresql://u@db.invalid/airlock")
    assert engine.dialect.driver == "psycopg"


def test_sqlite_pragmas_are_set_on_every_connection(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}", sqlite_busy_timeout_ms=1234)
    with engine.connect() as connection:
        pragma = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
        }
    engine.dispose()
    assert pragma == {
        "journal_mode": "wal",
        "busy_timeout": 1234,
        "foreign_keys": 1,
        "synchronous": 1,
    }


def test_sqlite_default_busy_timeout_is_five_seconds(sqlite_url: str):
    engine = make_engine(sqlite_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    engine.dispose()


def test_sqlite_creates_the_parent_directory(tmp_path: Path):
    path = tmp_path / "home" / "nested" / "airlock.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.execute(text("select 1"))
    engine.dispose()
    assert path.exists()


def test_session_objects_stay_readable_after_commit(sqlite_url: str):
    engine = make_engine(sqlite_url)
    Bundle.metadata.create_all(engine, tables=[Bundle.__table__])  # type: ignore[list-item]
    with make_session_factory(engine)() as session:
        bundle = Bundle(name="local")
        session.add(bundle)
        session.commit()
    engine.dispose()
    assert (bundle.name, bundle.kind) == ("local", "local")


def test_sqlite_writers_of_one_process_take_turns_without_busy_errors(tmp_path: Path):
    """Many threads writing at once with a busy timeout of 0: SQLite alone would refuse all
    but one ("database is locked"); queued on the process's write lock every write lands."""
    import threading

    from airlock.db import upgrade

    url = f"sqlite:///{tmp_path / 'w.db'}"
    upgrade(url)
    engine = make_engine(url, sqlite_busy_timeout_ms=0)
    sessions = make_session_factory(engine)
    errors: list[Exception] = []

    def write(i: int) -> None:
        try:
            with sessions() as session:
                session.add(Bundle(name=f"b{i}"))
                session.flush()
                if i % 3 == 0:  # a rolled-back writer gives the lock back too
                    session.rollback()
                    return
                session.commit()
        except Exception as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with sessions() as session:
        names = set(session.scalars(text("SELECT name FROM bundle")).all())
    engine.dispose()
    assert errors == []
    assert names == {f"b{i}" for i in range(24) if i % 3}


def _backend_pid(engine: Any) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_backend_pid()")))


def _terminate(engine: Any, pid: int) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@pytest.mark.postgres
def test_a_pooled_postgres_connection_that_sat_idle_is_pinged_and_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server restart or an idle timeout kills pooled connections: one that waited long
    enough is checked before use, and a dead one replaced, so the caller never sees it."""
    monkeypatch.setattr(engine_module, "PING_IDLE_AFTER_S", 0.0)
    engine = make_engine(postgres_url, pool_size=1)
    admin = make_engine(postgres_url, pool_size=1)
    try:
        dead = _backend_pid(engine)
        _terminate(admin, dead)
        assert _backend_pid(engine) != dead, "a new connection replaced the dead one"
    finally:
        engine.dispose()
        admin.dispose()


@pytest.mark.postgres
def test_a_busy_postgres_pool_does_not_ping(postgres_url: str) -> None:
    """A connection back in the pool a moment ago is used as it is: no round trip first."""
    engine = make_engine(postgres_url, pool_size=1)
    pings = []
    real_ping = engine.dialect.do_ping
    engine.dialect.do_ping = lambda dbapi_connection: pings.append(1) or real_ping(dbapi_connection)  # type: ignore[method-assign]
    try:
        for _ in range(5):
            _backend_pid(engine)
        assert pings == []
    finally:
        engine.dispose()
