"""Log-in defences: failures throttled per user name and per client address (429 with
Retry-After), an unknown user name costing what a known one does, and a new password ending the
user's tokens (SQLite and PostgreSQL)."""

from __future__ import annotations

import statistics
import time
from typing import Any

from airlock.db import LoginFailure


def attempt(web: Any, username: str, password: str) -> Any:
    return web.call("POST", "/auth/token", json={"username": username, "password": password})


def test_failures_for_one_user_name_block_it_with_retry_after(
    web: Any, expect_problem: Any
) -> None:
    web.add_user("ann")
    web.add_user("bob")
    limit = web.settings.web.login_max_failures_per_user
    for _ in range(limit):
        expect_problem(attempt(web, "ann", "wrong-password"), 401, "wrong username or password")
    blocked = attempt(web, "ann", "a-long-password")  # even the right password waits
    expect_problem(blocked, 429, "too many failed log-ins")
    retry_after = int(blocked.headers["retry-after"])
    assert 1 <= retry_after <= web.settings.web.login_block_s
    # Another user name from the same address is not blocked by ann's failures.
    assert attempt(web, "bob", "a-long-password").status_code == 200


def test_a_success_clears_the_user_names_count(web: Any) -> None:
    web.add_user("ann")
    limit = web.settings.web.login_max_failures_per_user
    for _ in range(limit - 1):
        assert attempt(web, "ann", "wrong-password").status_code == 401
    assert attempt(web, "ann", "a-long-password").status_code == 200
    assert attempt(web, "ann", "wrong-password").status_code == 401
    with web.session() as session:
        assert session.get_one(LoginFailure, "user:ann").failures == 1


def test_an_unknown_user_name_costs_what_a_known_one_does(web: Any) -> None:
    web.add_user("ann")

    def median_s(username: str) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            assert attempt(web, username, "wrong-password").status_code == 401
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    known, unknown = median_s("ann"), median_s("nobody-by-this-name")
    # Both hash once with Argon2 (tens of ms); a skipped hash would answer in ~1 ms.
    assert unknown > known / 3, (known, unknown)


def test_a_new_password_ends_the_users_tokens(web: Any, expect_problem: Any) -> None:
    web.add_user("root", roles=["admin"])
    web.add_user("ann")
    admin = attempt(web, "root", "a-long-password").json()["access_token"]
    old = attempt(web, "ann", "a-long-password").json()["access_token"]
    assert web.call("GET", "/auth/me", old).status_code == 200
    changed = web.call("PATCH", "/users/ann", admin, json={"password": "a-new-long-password"})
    assert changed.status_code == 200, changed.text
    expect_problem(web.call("GET", "/auth/me", old), 401, "log in again")
    new = attempt(web, "ann", "a-new-long-password").json()["access_token"]
    assert web.call("GET", "/auth/me", new).status_code == 200
