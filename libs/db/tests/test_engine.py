from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from airlock.db import Bundle, make_engine, make_session_factory, normalize_url


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
