"""Real Airlock processes for cross-service tests (:mod:`tests.support.processes`): a home with
keys and a migrated DB, and API servers started with ``airlock api`` on free ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.processes import ApiServer, Home, make_home, start_api, stop


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
