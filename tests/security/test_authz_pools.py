"""A team-scoped admin against the pools every team shares, over real HTTP (issue 18, part 5):
with `default_pool` at 0 slots no team's task would run again."""

from __future__ import annotations

import pytest

from airlock.core.tokens import TokenKind
from tests.support.problems import problem
from tests.support.processes import ApiServer, Home


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/api/v1/pools/default_pool", {"slots": 0}),
        ("POST", "/api/v1/pools", {"name": "squatted", "slots": 1}),
        ("DELETE", "/api/v1/pools/default_pool", None),
    ],
)
def test_a_team_scoped_admin_cannot_change_shared_pools(
    api: ApiServer, home: Home, method: str, path: str, body: object
) -> None:
    scoped = home.token(TokenKind.USER, "team-admin", roles=["admin"], bundles=["team-a"])
    unscoped = home.token(TokenKind.USER, "root-admin", roles=["admin"])
    with api.client() as client:
        response = client.request(
            method, path, json=body, headers={"Authorization": f"Bearer {scoped}"}
        )
        problem(response, 403, "not limited to bundles")
        pool = client.get(
            "/api/v1/pools/default_pool", headers={"Authorization": f"Bearer {unscoped}"}
        )
    assert pool.json()["slots"] > 0


def test_an_unscoped_admin_still_manages_pools(api: ApiServer, home: Home) -> None:
    admin = {"Authorization": f"Bearer {home.token(TokenKind.USER, 'root', roles=['admin'])}"}
    with api.client() as client:
        created = client.post("/api/v1/pools", json={"name": "authz_p", "slots": 2}, headers=admin)
        assert created.status_code == 201, created.text
        assert client.delete("/api/v1/pools/authz_p", headers=admin).status_code == 204
