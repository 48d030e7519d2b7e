"""Every refusal the APIs owe a bad caller, over real HTTP against `airlock api`.

Each case checks the status and that the body is an RFC 9457 problem naming what was wrong.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from airlock.core.tokens import TokenKind
from airlock.core.tokens.signer import TokenSigner
from tests.support.problems import problem
from tests.support.processes import ApiServer, Home

# One authenticated endpoint per app, and the token kind it wants.
WEB_ME = "/api/v1/auth/me"
EXEC_ID = "/execution/identity"
INTERNAL_FILES = "/internal/bundles/team-a/files"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def service_token(home: Home, **claims: Any) -> str:
    claims = {"role": "dag-processor", "bundles": ["team-a"], **claims}
    return home.token(TokenKind.SERVICE, "dp", **claims)


def test_good_tokens_are_accepted(api: ApiServer, home: Home) -> None:
    with api.client() as client:
        assert client.get(INTERNAL_FILES, headers=bearer(service_token(home))).status_code == 200
        worker = client.get(EXEC_ID, headers=bearer(home.token(TokenKind.WORKER, "w1")))
        assert worker.json()["subject"] == "w1"
        user = client.get(
            WEB_ME, headers=bearer(home.token(TokenKind.USER, "ann", roles=["viewer"]))
        )
        assert user.json()["roles"] == ["viewer"]


@pytest.mark.parametrize("path", [WEB_ME, EXEC_ID, INTERNAL_FILES])
def test_missing_token_is_401(api: ApiServer, path: str) -> None:
    with api.client() as client:
        response = client.get(path)
    problem(response, 401, "missing bearer token")
    assert response.headers["www-authenticate"] == "Bearer"


def test_unsigned_alg_none_token_is_401(api: ApiServer) -> None:
    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {
        "kind": "service",
        "sub": "x",
        "aud": "internal",
        "iss": "airlock",
        "iat": now,
        "exp": now + 60,
        "jti": "none-1",
        "role": "dag-processor",
        "bundles": ["team-a"],
    }
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    with api.client() as client:
        problem(client.get(INTERNAL_FILES, headers=bearer(token)), 401, "not valid")


def test_token_signed_by_another_key_is_401(api: ApiServer) -> None:
    forged = TokenSigner(Ed25519PrivateKey.generate()).issue(
        TokenKind.SERVICE, "dp", 60, role="dag-processor", bundles=["team-a"]
    )
    with api.client() as client:
        problem(
            client.get(INTERNAL_FILES, headers=bearer(forged)), 401, "signature verification failed"
        )


def test_garbage_token_is_401(api: ApiServer) -> None:
    with api.client() as client:
        problem(client.get(EXEC_ID, headers=bearer("not-a-jwt")), 401, "not valid")


def test_expired_token_is_401(api: ApiServer, home: Home) -> None:
    # Issued already expired beyond the verifier's leeway.
    token = home.signer().issue(TokenKind.WORKER, "w", 1)
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert payload["exp"] - payload["iat"] == 1
    time.sleep(3)
    with api.client() as client:
        problem(client.get(EXEC_ID, headers=bearer(token)), 401, "expired")


def test_revoked_token_is_401(api: ApiServer, home: Home) -> None:
    token = service_token(home)
    with api.client() as client:
        assert client.get(INTERNAL_FILES, headers=bearer(token)).status_code == 200
        home.airlock("tokens", "revoke", token)
        problem(client.get(INTERNAL_FILES, headers=bearer(token)), 401, "revoked")


@pytest.mark.parametrize(
    ("kind", "claims", "path"),
    [
        (TokenKind.SERVICE, {"role": "dag-processor", "bundles": ["team-a"]}, WEB_ME),
        (TokenKind.SERVICE, {"role": "dag-processor", "bundles": ["team-a"]}, EXEC_ID),
        (TokenKind.TASK, {}, WEB_ME),
        (TokenKind.TASK, {}, INTERNAL_FILES),
        (TokenKind.WORKER, {}, WEB_ME),
        (TokenKind.WORKER, {}, INTERNAL_FILES),
        (TokenKind.USER, {"roles": ["admin"]}, EXEC_ID),
        (TokenKind.USER, {"roles": ["admin"]}, INTERNAL_FILES),
    ],
)
def test_token_of_wrong_audience_is_403(
    api: ApiServer, home: Home, kind: TokenKind, claims: dict[str, Any], path: str
) -> None:
    with api.client() as client:
        problem(client.get(path, headers=bearer(home.token(kind, **claims))), 403, f"{kind} token")


def test_service_role_outside_its_scope_is_403(api: ApiServer, home: Home) -> None:
    token = service_token(home, role="triggerer")
    with api.client() as client:
        problem(client.get(INTERNAL_FILES, headers=bearer(token)), 403, "role triggerer")


def test_service_token_for_another_bundle_is_403(api: ApiServer, home: Home) -> None:
    token = service_token(home, bundles=["team-b"])
    with api.client() as client:
        problem(client.get(INTERNAL_FILES, headers=bearer(token)), 403, "not 'team-a'")


def test_body_over_limit_is_413(api: ApiServer) -> None:
    body = b'{"username": "' + b"a" * 2_000_000 + b'", "password": "x"}'
    with api.client() as client:
        response = client.post(
            "/api/v1/auth/token", content=body, headers={"content-type": "application/json"}
        )
    problem(response, 413, "larger than this API accepts")


def test_malformed_json_is_400(api: ApiServer) -> None:
    with api.client() as client:
        response = client.post(
            "/api/v1/auth/token",
            content=b'{"username": ',
            headers={"content-type": "application/json"},
        )
    body = problem(response, 400, "not valid JSON")
    assert body["type"].endswith("/malformed-body")


def test_body_of_wrong_shape_is_422_naming_the_field(api: ApiServer) -> None:
    with api.client() as client:
        response = client.post("/api/v1/auth/token", json={"username": 5, "password": "x"})
    problem(response, 422, "username")


def test_query_out_of_range_is_422_naming_it(api: ApiServer, home: Home) -> None:
    with api.client() as client:
        response = client.get(
            INTERNAL_FILES + "?limit=1000000", headers=bearer(service_token(home))
        )
    problem(response, 422, "limit")


def test_wrong_password_is_401(api: ApiServer) -> None:
    with api.client() as client:
        response = client.post(
            "/api/v1/auth/token", json={"username": "ghost", "password": "nope-nope"}
        )
    problem(response, 401, "wrong username or password")


def test_unknown_path_is_404_problem(api: ApiServer) -> None:
    with api.client() as client:
        problem(client.get("/api/v1/no-such-thing"), 404, "not found")


# The Web API's DAG, user and API token endpoints (issue 5): each is refused to a token of
# another kind, and each write to a role below the one it needs.
WEB_READS = ["/api/v1/dags", "/api/v1/importErrors", "/api/v1/users", "/api/v1/apiTokens"]


@pytest.mark.parametrize("path", WEB_READS)
@pytest.mark.parametrize(
    ("kind", "claims"),
    [
        (TokenKind.TASK, {"dag_id": "d", "run_id": "r", "bundle": "team-a"}),
        (TokenKind.SERVICE, {"role": "dag-processor", "bundles": ["team-a"]}),
        (TokenKind.WORKER, {}),
    ],
)
def test_non_user_tokens_on_the_web_api_are_403(
    api: ApiServer, home: Home, kind: TokenKind, claims: dict[str, Any], path: str
) -> None:
    with api.client() as client:
        response = client.get(path, headers=bearer(home.token(kind, **claims)))
        problem(response, 403, f"{kind} token")
        response = client.post(
            "/api/v1/apiTokens", json={"name": "x"}, headers=bearer(home.token(kind, **claims))
        )
        problem(response, 403, f"{kind} token")


@pytest.mark.parametrize(
    ("method", "path", "body", "needs"),
    [
        ("PATCH", "/api/v1/dags/any_dag", {"is_paused": True}, "op"),
        (
            "POST",
            "/api/v1/users",
            {"username": "u", "password": "p" * 8, "roles": ["admin"]},
            "admin",
        ),
        ("PATCH", "/api/v1/users/someone", {"roles": ["admin"]}, "admin"),
    ],
)
def test_a_viewer_cannot_write(
    api: ApiServer, home: Home, method: str, path: str, body: dict[str, Any], needs: str
) -> None:
    token = home.token(TokenKind.USER, "vic", roles=["viewer"])
    with api.client() as client:
        response = client.request(method, path, json=body, headers=bearer(token))
    problem(response, 403, f"needs the {needs} role")
