"""The real Web API app on a real, migrated database (SQLite file and PostgreSQL), with keys in a
throwaway AIRLOCK_HOME, driven in-process through Litestar's test client.

DAGs are set up as the Internal API would leave them: a ``dag`` row and one ``dag_version`` per
distinct serialized DAG, whose blob is the real compressed msgspec JSON.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from airlock.core.passwords import hash_password
from airlock.core.secrets_key import ensure_secrets_key
from airlock.core.settings import Settings, load_settings
from airlock.core.tokens import TokenKind
from airlock.core.tokens.keys import generate_key_pair, load_private_key
from airlock.core.tokens.signer import TokenSigner
from airlock.db import Bundle, Dag, DagRun, DagSource, DagVersion, User, upgrade
from airlock.db.database import Database
from airlock.models.codec import encode_and_compress
from airlock.models.dag import SerializedDag, SerializedTask
from airlock.models.states import DagRunState, DagRunType
from airlock.web.app import create_app


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def task(task_id: str, **options: Any) -> SerializedTask:
    return SerializedTask(
        task_id=task_id,
        operator_class="airlock.sdk.EmptyOperator",
        operator_name="EmptyOperator",
        **options,
    )


@dataclass
class WebEnv:
    settings: Settings
    db: Database
    app: Litestar
    client: TestClient[Litestar]
    signer: TokenSigner
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

    def session(self) -> Session:
        return self.db.sessions()

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
        blob, content_hash = encode_and_compress(dag)
        with self.session() as session:
            if session.get(Bundle, bundle) is None:
                session.add(Bundle(name=bundle))
            source_hash = None
            if source is not None:
                source_hash = hashlib.sha256(source.encode()).hexdigest()
                if session.get(DagSource, source_hash) is None:
                    session.add(DagSource(content_hash=source_hash, source=source))
            row = session.get(Dag, dag_id)
            if row is None:
                row = Dag(
                    dag_id=dag_id,
                    bundle_name=bundle,
                    fileloc=f"/bundles/{bundle}/{dag_id}.py",
                    relative_fileloc=f"{dag_id}.py",
                )
                session.add(row)
            row.tags = list(dag.tags)
            row.owners = list(dag.owners)
            row.description = dag.description
            row.dag_display_name = dag.dag_display_name
            row.timetable_summary = dag.timetable_summary
            session.flush()
            number = session.scalar(
                select(func.coalesce(func.max(DagVersion.version_number), 0)).where(
                    DagVersion.dag_id == dag_id
                )
            )
            version = DagVersion(
                dag_id=dag_id,
                version_number=int(number or 0) + 1,
                content_hash=content_hash,
                blob=blob,
                blob_size=len(blob),
                decompressed_size=0,
                bundle_name=bundle,
                source_hash=source_hash,
            )
            session.add(version)
            session.flush()
            row.latest_version_id = version.id
            session.commit()
            return version.id

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


def make_settings(db_url: str, home: Path) -> Settings:
    home.mkdir(parents=True, exist_ok=True)
    (home / "airlock.toml").write_text("")  # not whatever airlock.toml the tests run beside
    environ = {"AIRLOCK_HOME": str(home), "AIRLOCK_DATABASE__URL": db_url}
    settings = load_settings(environ=environ, config_file=home / "airlock.toml")
    generate_key_pair(settings.private_key_path, settings.public_key_path)
    ensure_secrets_key(settings.secrets_key_path)
    upgrade(db_url)
    return settings


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[WebEnv]:
    settings = make_settings(db_url, tmp_path / "home")
    db = Database(db_url)
    app = create_app(settings, database=db)
    signer = TokenSigner(load_private_key(settings.private_key_path), settings.auth.issuer)
    try:
        with TestClient(app, timeout=60) as client:
            yield WebEnv(settings=settings, db=db, app=app, client=client, signer=signer)
    finally:
        db.close()


def problem(response: httpx.Response, status: int, says: str = "") -> dict[str, Any]:
    """Assert an RFC 9457 problem with ``status`` whose detail mentions ``says``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert says.lower() in body["detail"].lower(), body
    return body


@pytest.fixture
def expect_problem() -> Any:
    """:func:`problem`, for test modules (conftest modules cannot be imported by name)."""
    return problem
