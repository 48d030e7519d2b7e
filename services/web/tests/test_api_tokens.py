"""API tokens: shown once, listed without the secret, scoped to the creator's rights, revocable."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest


def login(web: Any, username: str, password: str = "a-long-password") -> str:
    response = web.call("POST", "/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def ann(web: Any) -> str:
    """A login token of an op limited to bundles a and b."""
    web.add_user("ann", roles=["op"], bundles=["a", "b"])
    return login(web, "ann")


def test_create_use_list_and_revoke(web: Any, ann: str, expect_problem: Any) -> None:
    created = web.call("POST", "/apiTokens", ann, json={"name": "ci"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["roles"] == ["op"]
    assert body["bundles"] == ["a", "b"]
    assert body["status"] == "active"
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(days=89) < expires - dt.datetime.now(dt.UTC) < dt.timedelta(days=91)
    api_token = body["token"]
    me = web.call("GET", "/auth/me", api_token).json()
    assert (me["subject"], me["roles"], me["bundles"]) == ("ann", ["op"], ["a", "b"])

    listing = web.call("GET", "/apiTokens", ann)
    assert listing.json()["total_entries"] == 1
    assert api_token not in listing.text
    assert "token" not in listing.json()["api_tokens"][0]

    expect_problem(web.call("POST", "/apiTokens", ann, json={"name": "ci"}), 409, "already have")
    response = web.call("DELETE", f"/apiTokens/{body['id']}", ann)
    assert response.status_code == 204
    expect_problem(web.call("GET", "/auth/me", api_token), 401, "revoked")
    assert web.call("DELETE", f"/apiTokens/{body['id']}", ann).status_code == 204
    listing = web.call("GET", "/apiTokens", ann).json()
    assert listing["api_tokens"][0]["status"] == "revoked"
    assert web.call("GET", "/apiTokens?active_only=true", ann).json()["total_entries"] == 0
    # The name is free again once the old token is revoked.
    assert web.call("POST", "/apiTokens", ann, json={"name": "ci"}).status_code == 201


def test_fewer_rights_allowed_more_refused(web: Any, ann: str, expect_problem: Any) -> None:
    fewer = web.call(
        "POST", "/apiTokens", ann, json={"name": "r", "roles": ["viewer"], "bundles": ["a"]}
    )
    assert fewer.status_code == 201, fewer.text
    me = web.call("GET", "/auth/me", fewer.json()["token"]).json()
    assert (me["roles"], me["bundles"]) == (["viewer"], ["a"])
    response = web.call("POST", "/apiTokens", ann, json={"name": "x", "roles": ["admin"]})
    expect_problem(response, 403, "do not hold admin")
    response = web.call("POST", "/apiTokens", ann, json={"name": "x", "bundles": ["a", "c"]})
    expect_problem(response, 403, "bundles you cannot: c")
    response = web.call("POST", "/apiTokens", ann, json={"name": "x", "roles": ["boss"]})
    expect_problem(response, 400, "roles must be")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"name": ""}, "name must be"),
        ({"name": "x", "expires_at": "2000-01-01T00:00:00Z"}, "expires_at must be"),
        ({"name": "x", "expires_at": "2999-01-01T00:00:00Z"}, "expires_at must be"),
        ({"name": "x", "bundles": []}, "bundles"),
    ],
)
def test_bad_bodies_are_400(
    web: Any, ann: str, expect_problem: Any, body: dict[str, Any], says: str
) -> None:
    expect_problem(web.call("POST", "/apiTokens", ann, json=body), 400, says)


def test_explicit_expiry(web: Any, ann: str) -> None:
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).replace(microsecond=0)
    body = web.call("POST", "/apiTokens", ann, json={"name": "w", "expires_at": when.isoformat()})
    assert abs(dt.datetime.fromisoformat(body.json()["expires_at"]) - when) < dt.timedelta(
        seconds=2
    )


def test_api_token_cannot_mint_tokens(web: Any, ann: str, expect_problem: Any) -> None:
    api_token = web.call("POST", "/apiTokens", ann, json={"name": "ci"}).json()["token"]
    response = web.call("POST", "/apiTokens", api_token, json={"name": "copy"})
    expect_problem(response, 403, "an API token cannot create API tokens")


def test_tokens_of_non_users_are_refused(web: Any, expect_problem: Any) -> None:
    response = web.call("POST", "/apiTokens", web.token("admin", sub="ghost"), json={"name": "x"})
    expect_problem(response, 403, "'ghost' is not one")


def test_others_tokens_are_404_but_admins_see_all(web: Any, ann: str, expect_problem: Any) -> None:
    web.add_user("bob", roles=["viewer"])
    web.add_user("root", roles=["admin"])
    bob = login(web, "bob")
    ann_token = web.call("POST", "/apiTokens", ann, json={"name": "ci"}).json()
    web.call("POST", "/apiTokens", bob, json={"name": "mine"})
    assert [t["name"] for t in web.call("GET", "/apiTokens", bob).json()["api_tokens"]] == ["mine"]
    expect_problem(web.call("GET", "/apiTokens?username=ann", bob), 403, "only an admin")
    expect_problem(web.call("DELETE", f"/apiTokens/{ann_token['id']}", bob), 404, "not found")
    root = login(web, "root")
    every = web.call("GET", "/apiTokens?order_by=username", root).json()
    assert [t["username"] for t in every["api_tokens"]] == ["ann", "bob"]
    only_ann = web.call("GET", "/apiTokens?username=ann", root).json()
    assert [t["name"] for t in only_ann["api_tokens"]] == ["ci"]
    assert web.call("DELETE", f"/apiTokens/{ann_token['id']}", root).status_code == 204
    expect_problem(web.call("GET", "/auth/me", ann_token["token"]), 401, "revoked")


def test_deactivating_the_creator_ends_api_tokens(web: Any, ann: str, expect_problem: Any) -> None:
    web.add_user("root", roles=["admin"])
    root = login(web, "root")
    api_token = web.call("POST", "/apiTokens", ann, json={"name": "ci"}).json()["token"]
    web.call("PATCH", "/users/ann", root, json={"is_active": False})
    expect_problem(web.call("GET", "/auth/me", api_token), 401)
    listing = web.call("GET", "/apiTokens?username=ann", root).json()
    assert listing["api_tokens"][0]["status"] == "revoked"
