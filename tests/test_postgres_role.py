"""Airlock on PostgreSQL as a least-privilege role: no superuser, no CREATEDB, no CREATEROLE,
owning only the Airlock database (or only the Airlock schema of a database it does not own).

``airlock db migrate`` creates every table, and the services (the APIs, a DAG upload, the
scheduler) read and write through that role alone (README, "PostgreSQL as a least-privilege
role").
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import make_url

from airlock.core.tokens import TokenKind
from airlock.db import migrate as migrations
from tests.support.processes import make_home, start_api, stop

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DAG = """
from airlock.sdk import dag, task

@dag(schedule=None)
def least_privilege():
    @task
    def one():
        return 1
    one()

least_privilege()
"""


@pytest.fixture(params=["database-owner", "schema-owner"])
def role_url(request: pytest.FixtureRequest, postgres_url: str) -> Iterator[str]:
    """A fresh role that owns a fresh database (or only a schema ``airlock`` in it) and nothing
    else; its URL."""
    suffix = uuid.uuid4().hex[:10]
    role, password = f"airlock_role_{suffix}", f"lp-{suffix}"
    url = make_url(postgres_url)
    database = url.database
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as admin:
        admin.execute(
            f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}' "
            "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
        )
        if request.param == "database-owner":
            admin.execute(f'ALTER DATABASE "{database}" OWNER TO "{role}"')
        else:
            admin.execute(f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC')
            admin.execute(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
            admin.execute(f'CREATE SCHEMA airlock AUTHORIZATION "{role}"')
            admin.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
            admin.execute(f'ALTER ROLE "{role}" IN DATABASE "{database}" SET search_path = airlock')
        try:
            yield url.set(
                drivername="postgresql+psycopg", username=role, password=password
            ).render_as_string(hide_password=False)
        finally:
            admin.execute(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER')
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


def test_migrate_and_the_services_work_as_a_least_privilege_owner(
    role_url: str, tmp_path: Path
) -> None:
    home = make_home(tmp_path / "home", role_url)  # runs `airlock db migrate` as the role
    revision = home.airlock("db", "current").stdout.strip()
    head = ScriptDirectory.from_config(migrations.alembic_config(role_url)).get_current_head()
    assert revision == head, revision
    server = start_api(home, "web,execution,internal")
    try:
        folder = tmp_path / "dags"
        folder.mkdir()
        (folder / "least_privilege.py").write_text(DAG)
        token = home.token(TokenKind.SERVICE, "dag-processor", role="dag-processor", bundles=["lp"])
        upload = subprocess.run(
            [sys.executable, "-m", "airlock.cli", "dag-processor", "--bundle", "lp", "--once"],
            env={
                **home.zone_env("processing"),
                "AIRLOCK_DAG_PROCESSOR__API_URL": server.url,
                "AIRLOCK_DAG_PROCESSOR__TOKEN": token,
                "AIRLOCK_DAG_PROCESSOR__BUNDLES": f"lp={folder}",
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert upload.returncode == 0, upload.stderr
        user = {"Authorization": f"Bearer {home.token(TokenKind.USER, 'lp', roles=['admin'])}"}
        with httpx.Client(base_url=server.url, headers=user, timeout=30) as web:
            created = web.post("/api/v1/dags/least_privilege/dagRuns", json={"run_id": "lp"})
            assert created.status_code in (200, 201), created.text
            scheduled = home.airlock("scheduler", "--once", check=False)
            assert scheduled.returncode == 0, scheduled.stderr
            listing = web.get("/api/v1/dags/least_privilege/dagRuns/lp/taskInstances")
            assert listing.status_code == 200, listing.text
            states = {ti["task_id"]: ti["state"] for ti in listing.json()["task_instances"]}
            assert states == {"one": "queued"}
    finally:
        stop(server)
