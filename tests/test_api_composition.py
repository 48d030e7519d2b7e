"""`airlock api --apps …` serves exactly the named apps; the same apps run as separate processes
on separate ports; every app publishes its own OpenAPI document. Also on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ApiServer, Home, make_home

HEALTH = {"web": "/api/v1/health", "execution": "/execution/health", "internal": "/internal/health"}


def test_all_three_apps_answer_health(api: ApiServer) -> None:
    with api.client() as client:
        for name, path in HEALTH.items():
            body = client.get(path).json()
            assert body == {
                "status": "ok",
                "app": name,
                "version": body["version"],
                "database": "ok",
            }


def test_only_named_app_is_served(home: Home, started: Callable[[Home, str], ApiServer]) -> None:
    server = started(home, "web")
    with server.client() as client:
        assert client.get(HEALTH["web"]).status_code == 200
        for other in ("execution", "internal"):
            response = client.get(HEALTH[other])
            assert response.status_code == 404
            assert "serves: web (/api/v1)" in response.json()["detail"]


def test_three_apps_as_three_processes(
    home: Home, started: Callable[[Home, str], ApiServer]
) -> None:
    servers = {name: started(home, name) for name in HEALTH}
    assert len({s.url for s in servers.values()}) == 3
    for name, server in servers.items():
        assert httpx.get(server.url + HEALTH[name]).json()["app"] == name
        for other in set(HEALTH) - {name}:
            assert httpx.get(server.url + HEALTH[other]).status_code == 404


def test_each_app_has_its_own_openapi(api: ApiServer) -> None:
    with api.client() as client:
        for prefix, title in [
            ("/api/v1", "Airlock Web API"),
            ("/execution", "Airlock Execution API"),
            ("/internal", "Airlock Internal API"),
        ]:
            document = client.get(f"{prefix}/openapi/openapi.json").json()
            assert document["openapi"].startswith("3.1")
            assert document["info"]["title"] == title
            assert all(path.startswith(prefix) for path in document["paths"])


@pytest.mark.postgres
def test_api_on_postgres(
    postgres_url: str, tmp_path: Path, started: Callable[[Home, str], ApiServer]
) -> None:
    home = make_home(tmp_path, postgres_url)
    server = started(home, "web,execution,internal")
    with server.client() as client:
        for path in HEALTH.values():
            assert client.get(path).json()["database"] == "ok"
        home.airlock(
            "users",
            "create",
            "pgadmin",
            "--role",
            "admin",
            "--password-stdin",
            stdin="a-long-password\n",
        )
        login = client.post(
            "/api/v1/auth/token", json={"username": "pgadmin", "password": "a-long-password"}
        )
        assert login.status_code == 200
        me = client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
        )
        assert me.json()["subject"] == "pgadmin"
        assert me.json()["roles"] == ["admin"]
