"""Password guessing against `airlock api` over real HTTP (issue 18, part 7): failures from one
client address are throttled whatever user names they try, the answer does not tell which user
names exist, and a password reset ends the tokens issued before it."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import httpx
import pytest

from airlock.core.tokens import TokenKind
from tests.support.problems import problem
from tests.support.processes import ApiServer, Home, make_home, start_api, stop

pytestmark = pytest.mark.slow
ADDRESS_LIMIT = 4


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A Web API on a DB of its own, with a low per-address limit: the block it sets holds for
    every server on its DB, so it must not reach the other tests' server."""
    path = tmp_path_factory.mktemp("login")
    home = make_home(path, f"sqlite:///{path / 'airlock.db'}")
    home.airlock(
        "users",
        "create",
        "guarded",
        "--role",
        "admin",
        "--password-stdin",
        stdin="a-long-password\n",
    )
    server = start_api(
        home,
        "web",
        extra_env={
            "AIRLOCK_WEB__LOGIN_MAX_FAILURES_PER_ADDRESS": str(ADDRESS_LIMIT),
            "AIRLOCK_WEB__LOGIN_MAX_FAILURES_PER_USER": "100",
        },
    )
    yield server
    stop(server)


def login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_guessing_from_one_address_is_throttled_whatever_the_names(web: ApiServer) -> None:
    with web.client() as client:
        assert login(client, "guarded", "a-long-password").status_code == 200
        token = login(client, "guarded", "a-long-password").json()["access_token"]
        # Each user name tried once: only the per-address count can catch this.
        timings = {}
        for name in ["guarded", "no-such-user-1", "guarded", "no-such-user-2"]:
            started = time.perf_counter()
            problem(login(client, name, "guess"), 401, "wrong username or password")
            timings.setdefault(name.startswith("guarded"), []).append(time.perf_counter() - started)
        blocked = login(client, "guarded", "a-long-password")
        problem(blocked, 429, "too many failed log-ins")
        assert int(blocked.headers["retry-after"]) >= 1
        # Known and unknown names both pay for a hash (tens of ms, not ~1 ms).
        known, unknown = statistics.median(timings[True]), statistics.median(timings[False])
        assert unknown > known / 3, (known, unknown)
        # Tokens issued before the block still work: throttling refuses log-ins only.
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200


def test_a_password_reset_ends_the_tokens_issued_before_it(api: ApiServer, home: Home) -> None:
    home.airlock(
        "users",
        "create",
        "resetme",
        "--role",
        "viewer",
        "--password-stdin",
        stdin="a-long-password\n",
    )
    admin = {"Authorization": f"Bearer {home.token(TokenKind.USER, 'root', roles=['admin'])}"}
    with api.client() as client:
        old = login(client, "resetme", "a-long-password").json()["access_token"]
        reset = client.patch(
            "/api/v1/users/resetme", json={"password": "another-long-one"}, headers=admin
        )
        assert reset.status_code == 200, reset.text
        stale = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {old}"})
        problem(stale, 401, "log in again")
        assert login(client, "resetme", "another-long-one").status_code == 200
