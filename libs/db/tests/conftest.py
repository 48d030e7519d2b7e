"""Real databases for the tests: a SQLite file per test, a fresh PostgreSQL database per test.

``sqlite_url``, ``postgres_url`` and ``db_url`` (each test on both databases) come from the
repository's root ``conftest.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.db import (
    Bundle,
    Dag,
    DagRun,
    DagVersion,
    make_engine,
    make_session_factory,
    upgrade,
)
from airlock.models.states import DagRunType

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def migrated_url(db_url: str) -> str:
    upgrade(db_url)
    return db_url


@pytest.fixture
def session(migrated_url: str) -> Iterator[Session]:
    engine = make_engine(migrated_url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


@pytest.fixture
def make_dag_run(session: Session) -> Callable[..., DagRun]:
    """Creates (and commits) a bundle, a DAG, one version and a run of it."""

    def make(dag_id: str = "etl", run_id: str = "manual__1") -> DagRun:
        if session.get(Bundle, "local") is None:
            session.add(Bundle(name="local"))
        if session.get(Dag, dag_id) is None:
            session.add(
                Dag(
                    dag_id=dag_id,
                    bundle_name="local",
                    fileloc=f"/b/{dag_id}.py",
                    relative_fileloc=f"{dag_id}.py",
                )
            )
            session.flush()
            version = DagVersion(
                dag_id=dag_id,
                version_number=1,
                content_hash="a" * 64,
                blob=b"\x28\xb5\x2f\xfd",
                blob_size=4,
                decompressed_size=0,
                bundle_name="local",
            )
            session.add(version)
            session.flush()
        version_id = session.scalars(select(DagVersion.id).filter_by(dag_id=dag_id)).one()
        run = DagRun(
            dag_id=dag_id,
            run_id=run_id,
            dag_version_id=version_id,
            run_after=dt.datetime.now(dt.UTC),
            run_type=DagRunType.MANUAL,
        )
        session.add(run)
        session.commit()
        return run

    return make
