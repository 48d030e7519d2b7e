"""Alembic environment for the Airlock metadata database (configured by airlock.db.migrate)."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, text

import airlock.db.models  # noqa: F401  (registers every table on Base.metadata)
from airlock.db.base import Base, StrEnumString, UtcDateTime
from airlock.db.engine import make_engine
from airlock.db.migrate import COMPARE_OPTIONS


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render Airlock's column types as plain SQLAlchemy types, so revisions never import models."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, StrEnumString):
        return "sa.String(length=20)"
    return False


def _configure(connection: Connection | None = None, **options: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_item=render_item,
        **COMPARE_OPTIONS,
        **options,
    )


def run_offline() -> None:
    url = context.config.attributes["airlock_url"]
    _configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(context.config.attributes["airlock_url"])
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                _migrate_sqlite(connection)
            else:
                _configure(connection)
                with context.begin_transaction():
                    context.run_migrations()
    finally:
        engine.dispose()


def _migrate_sqlite(connection: Connection) -> None:
    # SQLite alters tables by copying them ("batch" mode). With foreign keys enforced, dropping
    # the old copy would cascade deletes into other tables, so they are off while migrating and
    # checked once at the end.
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        _configure(connection, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        violations = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
        if violations:
            raise RuntimeError(f"migration left rows violating foreign keys: {violations[:10]}")
    finally:
        connection.rollback()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
