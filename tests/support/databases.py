"""Migrated databases, fast: SQLite files are copies of one file migrated per test session
(the ``migrated_sqlite_file`` fixture); a PostgreSQL database is migrated where it stands.
:class:`DbEnv` is a migrated database with DAGs installed, for tests of the scheduling code."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from airlock.db import make_engine, make_session_factory, upgrade
from airlock.models.dag import SerializedDag
from airlock.scheduling import DagCache
from tests.support.dags import install_dag


def migrate(url: str, template: Path) -> None:
    """Bring the empty database at ``url`` to the head revision (a SQLite file: a copy of
    ``template``, which is at head)."""
    if url.startswith("sqlite:///"):
        shutil.copyfile(template, url.removeprefix("sqlite:///"))
    else:
        upgrade(url)


@dataclass
class DbEnv:
    """A migrated database and the DAG cache the scheduling calls take."""

    engine: Engine
    sessions: sessionmaker[Session]
    cache: DagCache
    url: str

    @classmethod
    def open(cls, url: str, template: Path) -> Iterator[Self]:
        """For a fixture: ``yield from Env.open(db_url, migrated_sqlite_file)``."""
        migrate(url, template)
        engine = make_engine(url)
        try:
            yield cls(engine, make_session_factory(engine), DagCache(), url)
        finally:
            engine.dispose()

    def install(self, dag: SerializedDag, *, bundle: str = "local", paused: bool = False) -> int:
        """Store ``dag`` as its DAG's newest version; the version id."""
        with self.sessions() as session:
            return install_dag(session, dag, bundle=bundle, paused=paused)
