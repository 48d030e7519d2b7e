"""Schema migrations, run in-process: no ``alembic.ini``, no working-directory assumptions.

The Alembic environment ships inside this package (``airlock/db/migrations``) and is configured
here from a database URL alone, so ``airlock db migrate``, ``run-all`` and the tests all migrate
the same way. Revisions have short readable ids (``0001``, ``0002``, …) and files named
``<id>_<slug>.py``. To add one after changing the models::

    uv run python -c "from airlock.db.migrate import autogenerate_revision; \\
        autogenerate_revision('sqlite:///tmp/rev.db', 'add triggers', '0002')"

then review the generated file: autogenerate is a first draft, not the migration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import URL

from airlock.db.engine import make_engine, normalize_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

#: How autogenerate compares models with a database; env.py and the schema tests share these.
COMPARE_OPTIONS: dict[str, Any] = {"compare_type": True, "compare_server_default": True}


def alembic_config(url: str | URL) -> Config:
    """An Alembic config for ``url`` that finds the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    # Passed as an attribute, not a main option: the config parser would interpolate "%" in
    # passwords.
    config.attributes["airlock_url"] = normalize_url(url)
    return config


def upgrade(url: str | URL, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | URL, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def current(url: str | URL) -> str | None:
    """The revision the database is at, or ``None`` for an unmigrated database."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def autogenerate_revision(url: str | URL, message: str, rev_id: str) -> None:
    """Draft a revision comparing the models with ``url`` migrated to head (see module doc)."""
    upgrade(url)
    command.revision(alembic_config(url), message=message, autogenerate=True, rev_id=rev_id)
