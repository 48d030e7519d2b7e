"""The real Web API app on a real, migrated database (SQLite file and PostgreSQL), with keys in a
throwaway AIRLOCK_HOME, driven in-process through Litestar's test client.

DAGs are set up as the Internal API would leave them: a ``dag`` row and one ``dag_version`` per
distinct serialized DAG, whose blob is the real compressed msgspec JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from airlock.core.passwords import hash_password
from airlock.core.tokens import TokenKind
from airlock.db import Dag, DagRun, User
from airlock.models.dag import SerializedDag, SerializedTask
from airlock.models.states import DagRunState, DagRunType
from airlock.web.app import create_app
from tests.support.apps import ApiEnv, api_settings
from tests.support.dags import install_dag, task


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class WebEnv(ApiEnv):
    #: Builds a SerializedTask (tests cannot import conftest by name).
    task = staticmethod(task)

    # --- tokens and requests -----------------------------------------------------------------

    def token(self, *roles: str, sub: str = "tester", bundles: list[str] | None = None) -> str:
        """A user token with ``roles`` (and a team scope when ``bundles`` is given)."""
        return self.signer.issue(TokenKind.USER, sub, 600, roles=list(roles), bundles=bundles)

    def call(
        self, method: str, path: str, token: str | None = None, **options: Any
    ) -> httpx.Response:
        """One request to ``/api/v1{path}``, with ``token`` as bearer when given."""
        headers = dict(options.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.request(method, f"/api/v1{path}", headers=headers, **options)

    # --- rows ----------------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        password: str = "a-long-password",
        roles: list[str] | None = None,
        bundles: list[str] | None = None,
    ) -> None:
        with self.session() as session:
            session.add(
                User(
                    username=username,
                    password_hash=hash_password(password),
                    roles=roles or ["viewer"],
                    bundles=bundles,
                )
            )
            session.commit()

    def add_dag(
        self,
        dag_id: str,
        bundle: str = "team-a",
        tasks: list[SerializedTask] | None = None,
        source: str | None = None,
        **serialized: Any,
    ) -> int:
        """A new version of ``dag_id`` (creating the DAG on first use); the version's id.

        ``serialized`` sets fields of the SerializedDag (``tags``, ``owners``, ``edges`` …);
        the ``dag`` row mirrors them as the Internal API's sync does.
        """
        tasks = tasks if tasks is not None else [task("t1")]
        dag = SerializedDag(
            dag_id=dag_id, relative_fileloc=f"{dag_id}.py", tasks=tasks, **serialized
        )
        with self.session() as session:
            return install_dag(
                session, dag, bundle=bundle, folder=f"/bundles/{bundle}", source=source
            )

    def add_run(
        self,
        dag_id: str,
        run_id: str,
        *,
        version_id: int | None = None,
        state: DagRunState = DagRunState.SUCCESS,
        run_after: dt.datetime | None = None,
    ) -> None:
        with self.session() as session:
            dag = session.get_one(Dag, dag_id)
            session.add(
                DagRun(
                    dag_id=dag_id,
                    run_id=run_id,
                    dag_version_id=version_id or dag.latest_version_id,
                    run_after=run_after or utcnow(),
                    run_type=DagRunType.MANUAL,
                    state=state,
                )
            )
            session.commit()

    def update_dag(self, dag_id: str, **values: Any) -> None:
        with self.session() as session:
            dag = session.get_one(Dag, dag_id)
            for name, value in values.items():
                setattr(dag, name, value)
            session.commit()


@pytest.fixture
def web(db_url: str, tmp_path: Path, migrated_sqlite_file: Path) -> Iterator[WebEnv]:
    settings = api_settings(db_url, tmp_path / "home", migrated_sqlite_file)
    yield from WebEnv.open(db_url, settings, create_app)
