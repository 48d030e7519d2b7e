"""Dated API versions over HTTP: a real Litestar app built by ``build_app`` with a small versioned
API of its own, driven through Litestar's test client.

Head (2026-03-01) renamed ``Job.title`` to ``name``, added ``Job.labels``, added the cancel
endpoint, moved ``/tasks/{job_id}`` to ``/jobs/{job_id}`` and removed ``/legacy``; 2026-01-01 is
the version before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar, delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.testing import TestClient

from airlock.core.http import ApiAppConfig, build_app
from airlock.core.tokens import TokenKind, TokenVerifier
from airlock.core.tokens.keys import generate_key_pair, load_private_key, load_public_key
from airlock.core.tokens.signer import TokenSigner
from airlock.models.versioning import (
    ApiVersions,
    EndpointAdded,
    EndpointMoved,
    EndpointRemoved,
    FieldAdded,
    FieldRenamed,
    Version,
)
from tests.support.problems import problem as problem_document

HEAD, OLD = "2026-03-01", "2026-01-01"
LIMIT = 2000


class Job(msgspec.Struct, kw_only=True):
    name: str
    labels: list[str] = msgspec.field(default_factory=list)


class Cancelled(msgspec.Struct, kw_only=True):
    cancelled: bool


VERSIONS = ApiVersions(
    "Test",
    [
        Version(
            HEAD,
            "Jobs have names and labels; cancel; tasks are jobs; no legacy.",
            changes=(
                FieldRenamed(Job, old="title", new="name"),
                FieldAdded(Job, "labels"),
                EndpointAdded("POST", "/jobs/{job_id}/cancel"),
                EndpointMoved("GET", old_path="/tasks/{job_id}", new_path="/jobs/{job_id}"),
                EndpointRemoved("GET", "/legacy"),
            ),
        ),
        Version(OLD, "The first."),
    ],
)


@get("/jobs", operation_id="ListJobs")
async def list_jobs() -> list[Job]:
    return [Job(name="a", labels=["x"]), Job(name="b")]


@post("/jobs", operation_id="CreateJob")
async def create_job(data: JSONBody[Job]) -> Job:
    return data


@get("/jobs/{job_id:int}", operation_id="GetJob")
async def get_job(job_id: FromPath[int]) -> Job:
    return Job(name=f"job {job_id}", labels=["one"])


@delete("/jobs/{job_id:int}", operation_id="DeleteJob")
async def delete_job(job_id: FromPath[int]) -> None:
    return None


@post("/jobs/{job_id:int}/cancel", operation_id="CancelJob", status_code=200)
async def cancel_job(job_id: FromPath[int]) -> Cancelled:
    return Cancelled(cancelled=True)


@get("/legacy", operation_id="Legacy")
async def legacy() -> Job:
    return Job(name="from the past")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    home = tmp_path_factory.mktemp("keys")
    private, public = home / "signing.pem", home / "public.pem"
    generate_key_pair(private, public)
    return private, public


@pytest.fixture(scope="module")
def client(keys: tuple[Path, Path]) -> Iterator[TestClient[Litestar]]:
    app = build_app(
        ApiAppConfig(
            name="test",
            title="Test API",
            prefix="/test",
            audience="execution",
            verifier=TokenVerifier(load_public_key(keys[1])),
            route_handlers=[list_jobs, create_job, get_job, delete_job, cancel_job, legacy],
            max_body_bytes=LIMIT,
            probe=lambda: None,
            versions=VERSIONS,
        )
    )
    token = TokenSigner(load_private_key(keys[0])).issue(TokenKind.WORKER, "w", 600)
    with TestClient(app, base_url="http://testserver") as test_client:
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client


def at(version: str) -> dict[str, str]:
    return {"Airlock-API-Version": version}


def problem(response: httpx.Response, status: int, says: str) -> dict[str, Any]:
    """A problem document, answered (whatever version was asked for) in the head version."""
    body = problem_document(response, status, says)
    assert response.headers["airlock-api-version"] == HEAD
    return body


# --- head -----------------------------------------------------------------------------------


def test_a_client_without_the_header_gets_head(client: TestClient[Litestar]) -> None:
    response = client.get("/test/jobs")
    assert response.status_code == 200
    assert response.json() == [{"name": "a", "labels": ["x"]}, {"name": "b", "labels": []}]
    assert response.headers["airlock-api-version"] == HEAD


def test_a_head_client_gets_head(client: TestClient[Litestar]) -> None:
    response = client.post("/test/jobs", json={"name": "n", "labels": ["l"]}, headers=at(HEAD))
    assert response.status_code == 201
    assert response.json() == {"name": "n", "labels": ["l"]}


def test_every_response_names_the_server_head_version(client: TestClient[Litestar]) -> None:
    for response in (
        client.get("/test/health"),
        client.get("/test/nowhere"),
        client.get("/test/jobs", headers={"Authorization": "Bearer nonsense"}),
        client.get("/test/jobs", headers=at("1999-01-01")),
    ):
        assert response.headers["airlock-api-version"] == HEAD, response.text


# --- older clients --------------------------------------------------------------------------


def test_a_list_response_is_migrated_item_by_item(client: TestClient[Litestar]) -> None:
    response = client.get("/test/jobs", headers=at(OLD))
    assert response.status_code == 200
    assert response.json() == [{"title": "a"}, {"title": "b"}]
    assert int(response.headers["content-length"]) == len(response.content)


def test_an_old_request_is_migrated_up_and_its_answer_down(client: TestClient[Litestar]) -> None:
    response = client.post("/test/jobs", json={"title": "old style"}, headers=at(OLD))
    assert response.status_code == 201, response.text
    assert response.json() == {"title": "old style"}


def test_an_empty_response_stays_empty(client: TestClient[Litestar]) -> None:
    response = client.delete("/test/jobs/3", headers=at(OLD))
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["airlock-api-version"] == HEAD


def test_an_old_shape_without_the_header_is_a_422_naming_the_field(
    client: TestClient[Litestar],
) -> None:
    response = client.post("/test/jobs", json={"title": "old style"})
    body = problem(response, 422, "name")
    assert "Object missing required field `name`" in str(body["detail"])


def test_a_moved_endpoint_answers_at_its_old_path_for_old_clients(
    client: TestClient[Litestar],
) -> None:
    response = client.get("/test/tasks/7", headers=at(OLD))
    assert response.status_code == 200, response.text
    assert response.json() == {"title": "job 7"}
    assert client.get("/test/tasks/7", headers=at(HEAD)).status_code == 404
    assert client.get("/test/jobs/7", headers=at(HEAD)).json()["name"] == "job 7"


def test_an_endpoint_added_later_is_404_for_old_clients(client: TestClient[Litestar]) -> None:
    problem(client.post("/test/jobs/7/cancel", headers=at(OLD)), 404, "does not exist in version")
    assert client.post("/test/jobs/7/cancel").json() == {"cancelled": True}


def test_a_removed_endpoint_serves_only_old_clients(client: TestClient[Litestar]) -> None:
    problem(client.get("/test/legacy"), 404, f"does not exist in version {HEAD}")
    response = client.get("/test/legacy", headers=at(OLD))
    assert response.status_code == 200
    assert response.json() == {"title": "from the past"}


def test_errors_are_not_migrated(client: TestClient[Litestar]) -> None:
    response = client.post("/test/jobs", content=b"{not json", headers=at(OLD))
    problem(response, 400, "not valid JSON")
    response = client.post("/test/jobs", json={"labels": []}, headers=at(OLD))
    problem(response, 422, "name")


def test_a_body_over_the_limit_is_413_for_old_clients_too(client: TestClient[Litestar]) -> None:
    big = {"title": "x" * (LIMIT + 10)}
    problem(client.post("/test/jobs", json=big, headers=at(OLD)), 413, "larger than")
    problem(client.post("/test/jobs", json=big, headers=at(HEAD)), 413, "larger than")


# --- versions the server cannot serve -------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "says"),
    [
        ("next tuesday", "must be a date written YYYY-MM-DD, got 'next tuesday'"),
        ("2026-13-01", "YYYY-MM-DD"),
        ("2030-01-01", "newer than this server's Test API (head 2026-03-01): upgrade the server"),
        ("2020-01-01", "older than the oldest Test API version"),
        ("2026-02-01", "not a version of the Test API"),
    ],
)
def test_an_unsupported_version_is_a_400_naming_the_supported_ones(
    client: TestClient[Litestar], header: str, says: str
) -> None:
    body = problem(client.get("/test/jobs", headers=at(header)), 400, says)
    assert "supports 2026-03-01 (head), 2026-01-01" in str(body["detail"])
    assert body["supported_versions"] == [HEAD, OLD]
    assert str(body["type"]).startswith("https://airlock.dev/problems/unsupported-api-version")


# --- OpenAPI --------------------------------------------------------------------------------


def test_the_openapi_document_follows_the_client_version(client: TestClient[Litestar]) -> None:
    head = client.get("/test/openapi/openapi.json").json()
    old = client.get("/test/openapi/openapi.json", headers=at(OLD)).json()
    assert head["info"]["version"] == HEAD
    assert old["info"]["version"] == OLD
    assert set(head["components"]["schemas"]["Job"]["properties"]) == {"name", "labels"}
    assert set(old["components"]["schemas"]["Job"]["properties"]) == {"title"}
    assert "/test/legacy" not in head["paths"]
    assert "/test/legacy" in old["paths"]
    assert "/test/tasks/{job_id}" in old["paths"]
    assert "/test/jobs/{job_id}/cancel" not in old["paths"]
