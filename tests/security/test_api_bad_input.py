"""Bad input is a 4xx problem naming it, never a 500, on a real API process: bodies that are not
UTF-8, JSON nested 1,000 levels, bodies sent with an older ``Airlock-API-Version`` before
authenticating, and (PostgreSQL) lists longer than one statement's 65,535 parameters."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from airlock.core.tokens import TokenKind
from airlock.models.internal import BundleSync
from airlock.models.versions import EXECUTION_VERSIONS
from tests.support.problems import problem
from tests.support.processes import ApiServer, Home, make_home, start_api, stop

NOT_UTF8 = b'{"username": "\xff\xfeadmin", "password": "\xc3\x28"}'
DEEP_ARRAY = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000
OLD_VERSION = EXECUTION_VERSIONS.dates[-1]
JSON = {"content-type": "application/json"}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_undecodable_bodies_are_400_on_every_api(api: ApiServer, home: Home) -> None:
    service = home.token(TokenKind.SERVICE, "dp", role="dag-processor", bundles=["b"])
    worker = home.token(TokenKind.WORKER, "w")
    targets = [
        ("POST", "/api/v1/auth/token", JSON),
        ("PUT", "/internal/bundles/b/dags", {**JSON, **bearer(service)}),
        ("POST", "/execution/workloads/next", {**JSON, **bearer(worker)}),
        (
            "POST",
            "/execution/workloads/next",
            {**JSON, **bearer(worker), "airlock-api-version": OLD_VERSION},
        ),
    ]
    bodies = {"not UTF-8": NOT_UTF8, "nested too deeply": DEEP_ARRAY}
    bodies["nested objects"] = DEEP_OBJECT
    tried = refused = 0
    with api.client() as http:
        for method, path, headers in targets:
            for says, body in bodies.items():
                tried += 1
                response = http.request(method, path, content=body, headers=headers)
                detail = "nested too deeply" if "nested" in says else "not valid UTF-8"
                problem(response, 400, detail)
                refused += 1
    print(f"undecodable bodies: tried {tried}, refused with 400 {refused}")
    assert refused == tried == 12


def test_old_version_bodies_are_not_read_before_authentication(api: ApiServer) -> None:
    """Without a valid token, a body sent with an older version is neither decoded nor migrated:
    a problem-details 401 every time, however broken or large the body."""
    old = {**JSON, "airlock-api-version": OLD_VERSION}
    big = b'{"worker": "w", "queues": [' + b'"q",' * 1_000_000 + b'"q"]}'
    with api.client() as http:
        for body in (DEEP_ARRAY, NOT_UTF8, b"{not json", big):
            for headers in (old, {**old, **bearer("not-a-token")}):
                response = http.post("/execution/workloads/next", content=body, headers=headers)
                problem(response, 401)


@pytest.mark.postgres
def test_lists_longer_than_a_statement_carries_are_chunked_or_413(
    postgres_url: str, tmp_path: Path
) -> None:
    home = make_home(tmp_path, postgres_url)
    server = start_api(home, "execution,internal")
    service = home.token(TokenKind.SERVICE, "dp", role="dag-processor", bundles=["b"])
    worker = home.token(TokenKind.WORKER, "w")
    many = [f"gone/{i}.py" for i in range(70_000)]
    try:
        with server.client() as http:
            deleted = http.put(
                "/internal/bundles/b/dags",
                content=msgspec.json.encode(BundleSync(deleted_files=many)),
                headers={**JSON, **bearer(service)},
            )
            assert deleted.status_code == 200, deleted.text
            polled = http.post(
                "/execution/workloads/next",
                json={"worker": "w", "queues": [f"q{i}" for i in range(70_000)], "wait_s": 0},
                headers=bearer(worker),
            )
            problem(polled, 413, "smaller batches")
    finally:
        stop(server)
