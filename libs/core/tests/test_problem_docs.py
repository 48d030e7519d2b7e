"""Every error is documented as a ``Problem`` (application/problem+json), and what the app sends
matches that schema: a real app built by ``build_app``, its served OpenAPI document, real errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import msgspec
import pytest
from litestar import Litestar, get, post
from litestar.params import FromPath, JSONBody
from litestar.testing import TestClient

from airlock.core.http import ApiAppConfig, Problem, build_app
from airlock.core.tokens import TokenKind, TokenVerifier
from airlock.core.tokens.keys import generate_key_pair, load_private_key, load_public_key
from airlock.core.tokens.signer import TokenSigner
from airlock.models.versioning import ApiVersions, Version


class Note(msgspec.Struct, kw_only=True):
    text: str


@get("/notes", operation_id="ListNotes")
async def list_notes() -> list[Note]:
    return [Note(text="a")]


@get("/notes/{note_id:int}", operation_id="GetNote")
async def get_note(note_id: FromPath[int]) -> Note:
    raise Problem(404, f"note {note_id} does not exist", slug="note-not-found")


@post("/notes", operation_id="CreateNote")
async def create_note(data: JSONBody[Note]) -> Note:
    return data


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    home = tmp_path_factory.mktemp("keys")
    private, public = home / "signing.pem", home / "public.pem"
    generate_key_pair(private, public)
    return private, public


def _app(keys: tuple[Path, Path], versions: ApiVersions | None) -> Litestar:
    return build_app(
        ApiAppConfig(
            name="notes",
            title="Notes API",
            prefix="/notes-api",
            audience="execution",
            verifier=TokenVerifier(load_public_key(keys[1])),
            route_handlers=[list_notes, get_note, create_note],
            max_body_bytes=200,
            probe=lambda: None,
            versions=versions,
        )
    )


@pytest.fixture(scope="module")
def client(keys: tuple[Path, Path]) -> Iterator[TestClient[Litestar]]:
    token = TokenSigner(load_private_key(keys[0])).issue(TokenKind.WORKER, "w", 600)
    with TestClient(_app(keys, None), base_url="http://testserver") as test_client:
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client


def _responses(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    responses: dict[str, Any] = document["paths"][path][method]["responses"]
    return responses


def _statuses(document: dict[str, Any], method: str, path: str) -> set[int]:
    return {int(code) for code in _responses(document, method, path) if code[0] in "45"}


def test_each_operation_documents_the_problems_it_can_answer(
    client: TestClient[Litestar],
) -> None:
    document = client.get("/notes-api/openapi/openapi.json").json()
    assert _statuses(document, "get", "/notes-api/notes") == {401, 403, 500, 503}
    assert _statuses(document, "get", "/notes-api/notes/{note_id}") == {
        400,
        401,
        403,
        404,
        422,
        500,
        503,
    }
    assert _statuses(document, "post", "/notes-api/notes") == {
        400,
        401,
        403,
        404,
        409,
        413,
        422,
        500,
        503,
    }
    # The health endpoint needs no token, so it cannot answer 401 or 403.
    assert _statuses(document, "get", "/notes-api/health") == {500, 503}
    for code, response in _responses(document, "post", "/notes-api/notes").items():
        if code[0] in "45":
            assert response["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, code


def test_problems_sent_match_the_documented_schema(client: TestClient[Litestar]) -> None:
    document = client.get("/notes-api/openapi/openapi.json").json()
    validator = jsonschema_rs.Draft202012Validator(document["components"]["schemas"]["Problem"])
    answers = [
        client.get("/notes-api/notes/7"),
        client.get("/notes-api/notes/seven"),
        client.get("/notes-api/notes", headers={"Authorization": "Bearer forged"}),
        client.post("/notes-api/notes", content=b"{not json"),
        client.post("/notes-api/notes", json={"txt": "wrong field"}),
        client.post("/notes-api/notes", json={"text": "x" * 500}),
    ]
    statuses = []
    for response in answers:
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert validator.is_valid(body), body
        statuses.append(response.status_code)
        documented = _statuses(document, response.request.method.lower(), _template(response))
        assert response.status_code in documented, (response.status_code, documented)
    # A path parameter of the wrong type matches no route: 404, as an unknown id.
    assert statuses == [404, 404, 401, 400, 422, 413]


def _template(response: httpx.Response) -> str:
    path = response.request.url.path
    return "/notes-api/notes/{note_id}" if path.startswith("/notes-api/notes/") else path


def test_a_versioned_api_documents_a_bad_version_on_every_operation_of_every_version(
    keys: tuple[Path, Path],
) -> None:
    versions = ApiVersions("Notes", [Version("2026-03-01", "Now."), Version("2026-01-01", "Then.")])
    with TestClient(_app(keys, versions), base_url="http://testserver") as client:
        for date in versions.dates:
            document = client.get(
                "/notes-api/openapi/openapi.json", headers={"Airlock-API-Version": date}
            ).json()
            assert document["info"]["version"] == date
            assert "Problem" in document["components"]["schemas"]
            assert _statuses(document, "get", "/notes-api/health") == {400, 500, 503}
            assert 400 in _statuses(document, "get", "/notes-api/notes")
        response = client.get("/notes-api/health", headers={"Airlock-API-Version": "1999-01-01"})
        assert response.status_code == 400
        assert response.json()["supported_versions"] == list(versions.dates)
