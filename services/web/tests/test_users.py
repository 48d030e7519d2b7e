"""Users managed by admins, roles enforced, and rights taken away taking effect at once."""

from __future__ import annotations

from typing import Any

import pytest


def login(web: Any, username: str, password: str = "a-long-password") -> str:
    response = web.call("POST", "/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def admin(web: Any) -> str:
    web.add_user("root", roles=["admin"])
    return login(web, "root")


def test_admin_creates_lists_and_reads_users(web: Any, admin: str, expect_problem: Any) -> None:
    body = {"username": "ann", "password": "ann-password", "roles": ["op"], "bundles": ["b", "a"]}
    created = web.call("POST", "/users", admin, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["bundles"] == ["a", "b"]
    assert "password" not in created.text
    assert "hash" not in created.text
    expect_problem(web.call("POST", "/users", admin, json=body), 409, "already exists")
    token = login(web, "ann", "ann-password")
    me = web.call("GET", "/auth/me", token).json()
    assert me["roles"] == ["op"]
    assert me["bundles"] == ["a", "b"]
    listing = web.call("GET", "/users?order_by=-username", admin).json()
    assert [u["username"] for u in listing["users"]] == ["root", "ann"]
    listing = web.call("GET", "/users?role=op", admin).json()
    assert [u["username"] for u in listing["users"]] == ["ann"]
    listing = web.call("GET", "/users?username_pattern=%25", admin).json()
    assert listing["total_entries"] == 0
    assert web.call("GET", "/users/ann", admin).json()["roles"] == ["op"]
    expect_problem(web.call("GET", "/users/nobody", admin), 404, "'nobody' not found")


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"username": "x", "password": "short", "roles": ["viewer"]}, 400, "8 characters"),
        ({"username": "x", "password": "long-enough", "roles": ["root"]}, 400, "roles must be"),
        ({"username": "x", "password": "long-enough", "roles": []}, 400, "roles must be"),
        ({"username": " x", "password": "long-enough", "roles": ["op"]}, 400, "username"),
        (
            {"username": "x", "password": "long-enough", "roles": ["op"], "bundles": []},
            400,
            "bundles",
        ),
        ({"username": "x", "password": "long-enough"}, 400, "roles"),
        (
            {"username": "x", "password": "long-enough", "roles": ["op"], "admin": True},
            400,
            "admin",
        ),
    ],
)
def test_bad_user_bodies(
    web: Any, admin: str, expect_problem: Any, body: dict[str, Any], status: int, says: str
) -> None:
    response = web.call("POST", "/users", admin, json=body)
    if response.status_code == 422:  # shape errors (missing or unknown fields)
        status = 422
    expect_problem(response, status, says)


def test_only_unscoped_admins_manage_users(web: Any, expect_problem: Any) -> None:
    body = {"username": "eve", "password": "eve-password", "roles": ["admin"]}
    for token in (web.token("viewer"), web.token("op")):
        expect_problem(web.call("GET", "/users", token), 403, "admin role")
        expect_problem(web.call("POST", "/users", token, json=body), 403, "admin role")
        expect_problem(web.call("PATCH", "/users/eve", token, json={"roles": ["admin"]}), 403)
    scoped = web.token("admin", bundles=["team-a"])
    expect_problem(web.call("POST", "/users", scoped, json=body), 403, "not limited to bundles")


def test_demoting_a_user_ends_their_tokens(web: Any, admin: str, expect_problem: Any) -> None:
    web.add_user("bob", roles=["op"])
    token = login(web, "bob")
    assert web.call("GET", "/auth/me", token).status_code == 200
    response = web.call("PATCH", "/users/bob", admin, json={"roles": ["viewer"]})
    assert response.json()["roles"] == ["viewer"]
    expect_problem(web.call("GET", "/auth/me", token), 401, "rights of user 'bob' changed")


def test_deactivated_user_cannot_use_or_get_tokens(
    web: Any, admin: str, expect_problem: Any
) -> None:
    web.add_user("bob", roles=["viewer"])
    token = login(web, "bob")
    response = web.call("PATCH", "/users/bob", admin, json={"is_active": False})
    assert response.json()["is_active"] is False
    expect_problem(web.call("GET", "/dags", token), 401, "deactivated")
    response = web.call(
        "POST", "/auth/token", json={"username": "bob", "password": "a-long-password"}
    )
    expect_problem(response, 401, "wrong username or password")


def test_password_change_and_scope_lift(web: Any, admin: str) -> None:
    web.add_user("bob", roles=["viewer"], bundles=["a"])
    response = web.call(
        "PATCH", "/users/bob", admin, json={"password": "new-password", "bundles": None}
    )
    assert response.status_code == 200, response.text
    assert response.json()["bundles"] is None
    assert login(web, "bob", "new-password")


def test_the_last_admin_stays(web: Any, admin: str, expect_problem: Any) -> None:
    expect_problem(
        web.call("PATCH", "/users/root", admin, json={"roles": ["op"]}), 409, "last active admin"
    )
    expect_problem(
        web.call("PATCH", "/users/root", admin, json={"is_active": False}), 409, "last active admin"
    )
    expect_problem(
        web.call("PATCH", "/users/root", admin, json={"bundles": ["a"]}), 409, "last active admin"
    )
    assert web.call("GET", "/users/root", admin).json()["roles"] == ["admin"]
    web.add_user("second", roles=["admin"])
    response = web.call("PATCH", "/users/root", admin, json={"roles": ["viewer"]})
    assert response.status_code == 200


def test_a_person_changes_their_own_password_and_every_older_token_ends(
    web: Any, expect_problem: Any
) -> None:
    web.add_user("bob", roles=["viewer"])
    session_token = login(web, "bob")
    api_token = web.call("POST", "/apiTokens", session_token, json={"name": "ci"}).json()["token"]
    assert web.call("GET", "/auth/me", api_token).status_code == 200
    path = "/auth/password"
    wrong = {"current_password": "not-it", "new_password": "a-newer-password"}
    expect_problem(web.call("POST", path, session_token, json=wrong), 401, "current password")
    same = {"current_password": "a-long-password", "new_password": "a-long-password"}
    expect_problem(web.call("POST", path, session_token, json=same), 400, "is the current one")
    weak = {"current_password": "a-long-password", "new_password": "x"}
    expect_problem(web.call("POST", path, session_token, json=weak), 400, "")
    expect_problem(web.call("POST", path, json=same), 401, "")  # no token at all
    body = {"current_password": "a-long-password", "new_password": "a-newer-password"}
    changed = web.call("POST", path, session_token, json=body)
    assert changed.status_code == 200, changed.text
    fresh = changed.json()["access_token"]
    for old in (session_token, api_token):
        expect_problem(web.call("GET", "/auth/me", old), 401, "")
    assert web.call("GET", "/auth/me", fresh).json()["subject"] == "bob"
    assert login(web, "bob", "a-newer-password")
    response = web.call(
        "POST", "/auth/token", json={"username": "bob", "password": "a-long-password"}
    )
    expect_problem(response, 401, "wrong username or password")


def test_an_admin_resetting_a_password_ends_the_users_tokens(
    web: Any, admin: str, expect_problem: Any
) -> None:
    web.add_user("bob", roles=["op"])
    token = login(web, "bob")
    assert web.call("GET", "/auth/me", token).status_code == 200
    reset = web.call("PATCH", "/users/bob", admin, json={"password": "reset-by-admin"})
    assert reset.status_code == 200, reset.text
    expect_problem(web.call("GET", "/auth/me", token), 401, "")
    assert login(web, "bob", "reset-by-admin")


def test_only_a_user_token_may_change_a_password(web: Any, expect_problem: Any) -> None:
    from airlock.core.tokens import TokenKind

    body = {"current_password": "a-long-password", "new_password": "a-newer-password"}
    for kind, claims in (
        (TokenKind.WORKER, {}),
        (TokenKind.SERVICE, {"role": "dag-processor", "bundles": ["b"]}),
        (TokenKind.TASK, {}),
    ):
        token = web.signer.issue(kind, "bob", 600, **claims)
        answer = web.call("POST", "/auth/password", token, json=body)
        assert answer.status_code in (401, 403), (kind, answer.text)
