"""Variables and connections through the Internal API (DAG files at parse time, triggers' and
callbacks' processors), on the real app and database: a service token reads global secrets and
those of the bundles it names; another bundle's are 404 through its own bundle and 403 through
the other's path; every other token kind is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airlock.core.secrets_key import read_secrets_keys
from airlock.core.tokens import TokenKind
from airlock.db import Connection, SecretBox, Variable
from airlock.internal.app import create_app
from tests.support.apps import ApiEnv, api_settings

ROLES = ("dag-processor", "triggerer", "callback-processor")


class Env(ApiEnv):
    def call(self, path: str, token: str) -> Any:
        return self.client.get(f"/internal{path}", headers={"Authorization": f"Bearer {token}"})

    def service(self, role: str, bundles: list[str]) -> str:
        return self.signer.issue(TokenKind.SERVICE, role, 600, role=role, bundles=bundles)


@pytest.fixture
def env(db_url: str, tmp_path: Path, migrated_sqlite_file: Path) -> Iterator[Env]:
    settings = api_settings(db_url, tmp_path / "home", migrated_sqlite_file)
    for env in Env.open(db_url, settings, create_app):
        box = SecretBox(read_secrets_keys(settings.secrets_key_path))
        with env.session() as session:
            for key, bundle in [("shared", None), ("own", "team-a"), ("secret", "team-b")]:
                variable = Variable(key=key, bundle_name=bundle)
                variable.set_value(f"{key}-value", box)
                session.add(variable)
            for conn_id, bundle in [("db_shared", None), ("db_own", "team-a"), ("db_b", "team-b")]:
                connection = Connection(conn_id=conn_id, conn_type="postgres", bundle_name=bundle)
                connection.set_password(f"{conn_id}-pw", box)
                session.add(connection)
            session.commit()
        yield env


@pytest.mark.parametrize("role", ROLES)
def test_a_service_reads_global_and_its_bundles_secrets_only(env: Env, role: str) -> None:
    token = env.service(role, ["team-a"])
    assert env.call("/bundles/team-a/variables/shared", token).json()["value"] == "shared-value"
    assert env.call("/bundles/team-a/variables/own", token).json()["value"] == "own-value"
    connection = env.call("/bundles/team-a/connections/db_own", token).json()
    assert connection["password"] == "db_own-pw"
    assert env.call("/bundles/team-a/connections/db_shared", token).status_code == 200
    # Another bundle's secret answers as a missing one through this bundle...
    for path in ("/bundles/team-a/variables/secret", "/bundles/team-a/connections/db_b"):
        answer = env.call(path, token)
        assert answer.status_code == 404, answer.text
        assert "-pw" not in answer.text
        assert "secret-value" not in answer.text
    # ...and its own path is not this token's.
    for path in ("/bundles/team-b/variables/secret", "/bundles/team-b/connections/db_b"):
        answer = env.call(path, token)
        assert answer.status_code == 403, answer.text
        assert "team-b" in answer.json()["detail"]


def test_other_token_kinds_read_no_secret(env: Env) -> None:
    tokens = {
        "worker": env.signer.issue(TokenKind.WORKER, "w", 600),
        "user": env.signer.issue(TokenKind.USER, "admin", 600, roles=["admin"]),
        "task": env.signer.issue(TokenKind.TASK, "ti", 600, bundles=["team-a"]),
    }
    for kind, token in tokens.items():
        for path in ("/bundles/team-a/variables/own", "/bundles/team-a/connections/db_own"):
            answer = env.call(path, token)
            assert answer.status_code in (401, 403), (kind, answer.text)
            assert "own-value" not in answer.text
            assert "-pw" not in answer.text
    assert env.call("/bundles/team-a/variables/own", "not-a-token").status_code == 401
