"""Fuzz the three APIs with schemathesis against a real `airlock api` process.

Requests are generated from the published OpenAPI documents (deploy/openapi/, which
tests/test_openapi_export.py keeps equal to what the code serves), valid and invalid, sent with a
valid token of each kind the API accepts and with none. A run fails on any 5xx and on any
response that does not match the document: a status it does not list, a media type it does not
name, or a body off the schema, errors included (every 4xx is an application/problem+json
``Problem``, airlock.core.http.problem_docs). Examples are few per operation, to keep the whole
module near a minute: this finds crashes and undocumented shapes, not every corner.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from airlock.core.tokens import TokenKind
from tests.support.processes import ApiServer, Home, start_api, stop

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)


def _schema(api: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_dict(
        json.loads((ROOT / "deploy" / "openapi" / f"{api}.json").read_text())
    )


WEB = _schema("web")
EXECUTION = _schema("execution")
INTERNAL = _schema("internal")


@pytest.fixture(scope="module")
def server(home: Home) -> Iterator[ApiServer]:
    # A worker's long poll must not hold a fuzzed request for seconds.
    server = start_api(home, "web,execution,internal", {"AIRLOCK_EXECUTION__MAX_WAIT_S": "0.05"})
    yield server
    stop(server)


@pytest.fixture(scope="module")
def tokens(home: Home) -> dict[str, str]:
    return {
        "none": "",
        "user": home.token(TokenKind.USER, "fuzz-admin", roles=["admin"]),
        "worker": home.token(TokenKind.WORKER, "fuzz-worker"),
        "task": home.token(
            TokenKind.TASK, "no-such-ti", dag_id="fuzz", run_id="fuzz", bundle="fuzz"
        ),
        "service": home.token(
            TokenKind.SERVICE, "fuzz-processor", role="dag-processor", bundles=["fuzz"]
        ),
    }


def call(case: schemathesis.Case, server: ApiServer, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    case.call_and_validate(base_url=server.url, headers=headers, checks=CHECKS, timeout=30)


@pytest.mark.parametrize("kind", ["none", "user"])
@WEB.parametrize()
@FUZZ
def test_web_api(
    case: schemathesis.Case, server: ApiServer, tokens: dict[str, str], kind: str
) -> None:
    call(case, server, tokens[kind])


@pytest.mark.parametrize("kind", ["none", "worker", "task"])
@EXECUTION.parametrize()
@FUZZ
def test_execution_api(
    case: schemathesis.Case, server: ApiServer, tokens: dict[str, str], kind: str
) -> None:
    call(case, server, tokens[kind])


@pytest.mark.parametrize("kind", ["none", "service"])
@INTERNAL.parametrize()
@FUZZ
def test_internal_api(
    case: schemathesis.Case, server: ApiServer, tokens: dict[str, str], kind: str
) -> None:
    call(case, server, tokens[kind])


def test_a_path_id_too_large_for_the_database_is_a_422(
    server: ApiServer, tokens: dict[str, str]
) -> None:
    """Found by the fuzzer: SQLite refuses integers past 64 bits, which was a 500."""
    response = httpx.delete(
        f"{server.url}/api/v1/apiTokens/41362909426628853760",
        headers={"Authorization": f"Bearer {tokens['user']}"},
        timeout=10,
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "out of the range" in response.json()["detail"]
