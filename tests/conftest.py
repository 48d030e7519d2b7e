"""Real Airlock processes for cross-service tests: a home with keys and a migrated DB, API
servers started with ``airlock api`` on free ports, and tokens signed with that home's key."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from airlock.core.tokens import TokenKind
from airlock.core.tokens.keys import load_private_key
from airlock.core.tokens.signer import TokenSigner


@dataclass
class Home:
    path: Path
    db_url: str
    env: dict[str, str] = field(default_factory=dict)

    def signer(self) -> TokenSigner:
        return TokenSigner(load_private_key(self.path / "keys" / "jwt_signing.pem"))

    def token(self, kind: TokenKind, sub: str = "tester", ttl_s: int = 600, **claims: Any) -> str:
        return self.signer().issue(kind, sub, ttl_s, **claims)

    def airlock(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "airlock.cli", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )


def make_home(path: Path, db_url: str) -> Home:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AIRLOCK_") or k.startswith("AIRLOCK_TEST_")
    }
    # A one-second clock leeway keeps the expired-token test short.
    env.update(
        {"AIRLOCK_HOME": str(path), "AIRLOCK_DATABASE__URL": db_url, "AIRLOCK_AUTH__LEEWAY_S": "1"}
    )
    home = Home(path=path, db_url=db_url, env=env)
    home.airlock("db", "migrate")
    home.airlock("keys", "generate")
    return home


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ApiServer:
    url: str
    process: subprocess.Popen[bytes]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)


def start_api(home: Home, apps: str, extra_env: dict[str, str] | None = None) -> ApiServer:
    port = free_port()
    env = {**home.env, **(extra_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "airlock.cli", "api", "--apps", apps, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    health = {
        "web": "/api/v1/health",
        "execution": "/execution/health",
        "internal": "/internal/health",
    }
    probe = health[apps.split(",", maxsplit=1)[0]]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"airlock api exited: {process.stderr.read().decode() if process.stderr else ''}"
            )
        try:
            if httpx.get(url + probe, timeout=1).status_code == 200:
                return ApiServer(url=url, process=process)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"airlock api on {url} did not become healthy in 30 s")


def stop(server: ApiServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    path = tmp_path_factory.mktemp("home")
    return make_home(path, f"sqlite:///{path / 'airlock.db'}")


@pytest.fixture(scope="session")
def api(home: Home) -> Iterator[ApiServer]:
    """All three apps in one process, as `airlock api --apps web,execution,internal`."""
    server = start_api(home, "web,execution,internal")
    yield server
    stop(server)


@pytest.fixture
def started() -> Iterator[Callable[[Home, str], ApiServer]]:
    servers: list[ApiServer] = []

    def start(home: Home, apps: str) -> ApiServer:
        servers.append(start_api(home, apps))
        return servers[-1]

    yield start
    for server in servers:
        stop(server)
