"""Fixtures every test folder shares: real databases, and the helpers of :mod:`tests.support`.

PostgreSQL comes from ``AIRLOCK_TEST_PG_URL`` (default: the local server). Where it cannot be
reached the PostgreSQL cases are skipped on a laptop but fail in CI (``CI=true``), so a green CI
run always means both databases were tested.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.problems import problem

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def service_unreachable(message: str) -> None:
    """Skip on a developer machine; fail in CI, where every service must be up."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'airlock.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, uniquely named database, dropped afterwards."""
    import psycopg
    from sqlalchemy import make_url

    admin_url = make_url(os.environ.get("AIRLOCK_TEST_PG_URL", DEFAULT_PG_URL))
    libpq_url = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = psycopg.connect(libpq_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        shown = admin_url.render_as_string(hide_password=True)
        service_unreachable(f"PostgreSQL unreachable at {shown} (set AIRLOCK_TEST_PG_URL): {error}")
        raise
    name = f"airlock_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated with ``airlock.db.upgrade``; tests get copies
    (:func:`tests.support.databases.migrate`)."""
    from airlock.db import upgrade

    path = tmp_path_factory.mktemp("template") / "airlock.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def expect_problem() -> Any:
    """:func:`tests.support.problems.problem`, for tests that take it as a fixture."""
    return problem
