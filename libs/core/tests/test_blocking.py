"""Blocking handlers inline on the event loop (an API on SQLite) or in worker threads: a real app
built by ``build_app``, driven over ASGI, with a session factory that records what it is asked."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar, get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from airlock.core.http import ApiAppConfig, build_app
from airlock.core.http.blocking import Blocking
from airlock.core.tokens import TokenClaims, TokenKind, TokenVerifier
from airlock.core.tokens.keys import generate_key_pair, load_private_key, load_public_key
from airlock.core.tokens.signer import TokenSigner


class Recorder:
    """A stand-in DB session factory: logs each session's life, and which thread used it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.open = 0
        self.most_open = 0
        self.threads: set[int] = set()

    @contextmanager
    def sessions(self) -> Iterator[Recorder]:
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            yield self
        finally:
            self.open -= 1


class RecordingVerifier(TokenVerifier):
    """A verifier that asks the DB (``blocking``), as the Web API's does."""

    def __init__(self, public_key: Any) -> None:
        super().__init__(public_key, blocking=True)
        self.threads: set[int] = set()

    def verify(self, token: str, audience: str) -> TokenClaims:
        self.threads.add(threading.get_ident())
        return super().verify(token, audience)


@get("/work", operation_id="Work", sync_to_thread=True)
def work(session: NamedDependency[Recorder], number: FromQuery[int]) -> dict[str, int]:
    """Blocking work inside a session, as every DB handler does."""
    session.threads.add(threading.get_ident())
    total = sum(range(20_000))  # long enough that a thread switch would interleave requests
    return {"number": number, "total": total, "open": session.open}


@get("/loop", operation_id="Loop")
async def loop_thread() -> dict[str, int]:
    return {"thread": threading.get_ident()}


@get("/offloaded", operation_id="Offloaded")
async def offloaded(blocking: NamedDependency[Blocking]) -> dict[str, int]:
    return {"thread": await blocking.call(threading.get_ident)}


class Marker:
    """A collaborator the app factory builds once."""


MARKER = Marker()


@get("/collaborator", operation_id="Collaborator", sync_to_thread=True)
def collaborator(marker: NamedDependency[Marker]) -> dict[str, bool]:
    return {"same": marker is MARKER}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    home = tmp_path_factory.mktemp("keys")
    private, public = home / "signing.pem", home / "public.pem"
    generate_key_pair(private, public)
    return private, public


def make_app(keys: tuple[Path, Path], inline: bool) -> tuple[Litestar, Recorder, RecordingVerifier]:
    recorder = Recorder()
    verifier = RecordingVerifier(load_public_key(keys[1]))
    app = build_app(
        ApiAppConfig(
            name="test",
            title="Test API",
            prefix="/test",
            audience="execution",
            verifier=verifier,
            route_handlers=[work, loop_thread, offloaded, collaborator],
            max_body_bytes=10_000,
            probe=lambda: None,
            sessions=recorder.sessions,
            inline_blocking=inline,
            collaborators={"marker": MARKER},
        )
    )
    return app, recorder, verifier


async def call_many(app: Litestar, token: str, paths: list[str]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=headers
    ) as client:
        return await asyncio.gather(*(client.get(path) for path in paths))


def token(keys: tuple[Path, Path]) -> str:
    return TokenSigner(load_private_key(keys[0])).issue(TokenKind.WORKER, "w", 600)


def test_inline_runs_handlers_token_checks_and_blocking_calls_on_the_event_loop(
    keys: tuple[Path, Path],
) -> None:
    app, recorder, verifier = make_app(keys, inline=True)
    paths = ["/test/loop", "/test/offloaded", *(f"/test/work?number={n}" for n in range(20))]
    responses = asyncio.run(call_many(app, token(keys), paths))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    loop = responses[0].json()["thread"]
    assert responses[1].json()["thread"] == loop
    assert recorder.threads == {loop}
    assert verifier.threads == {loop}
    # Twenty concurrent requests, and never two sessions open at once: nothing suspends between
    # a handler's session opening and closing, so no other request runs in between.
    assert recorder.most_open == 1
    assert [r.json()["number"] for r in responses[2:]] == list(range(20))


def test_threads_run_handlers_and_token_checks_off_the_event_loop(
    keys: tuple[Path, Path],
) -> None:
    app, recorder, verifier = make_app(keys, inline=False)
    paths = ["/test/loop", "/test/offloaded", *(f"/test/work?number={n}" for n in range(8))]
    responses = asyncio.run(call_many(app, token(keys), paths))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    loop = responses[0].json()["thread"]
    assert responses[1].json()["thread"] != loop
    assert loop not in recorder.threads
    assert loop not in verifier.threads


def test_a_refused_token_is_refused_inline_too(keys: tuple[Path, Path]) -> None:
    app, recorder, _ = make_app(keys, inline=True)
    wrong = TokenSigner(load_private_key(keys[0])).issue(TokenKind.WORKER, "w", 600, aud="web")
    responses = asyncio.run(call_many(app, wrong, ["/test/work?number=1"]))
    assert responses[0].status_code in (401, 403)
    assert recorder.threads == set()


@pytest.mark.parametrize("inline", [True, False])
def test_collaborators_are_injected_by_name_as_the_factory_built_them(
    keys: tuple[Path, Path], inline: bool
) -> None:
    app, _, _ = make_app(keys, inline=inline)
    responses = asyncio.run(call_many(app, token(keys), ["/test/collaborator"] * 3))
    assert [r.json() for r in responses] == [{"same": True}] * 3, [r.text for r in responses]
