"""Real Airlock processes for cross-service tests (:mod:`tests.support.processes`): a home with
keys and a migrated DB, and API servers started with ``airlock api`` on free ports.

A test that uses one of these fixtures starts real processes, so it is marked ``slow`` (and left
out of ``just test-fast``) without having to say so."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.processes import ApiServer, Home, make_home, start_api, stop

PROCESS_FIXTURES = {"home", "api", "started"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Hooks in a conftest see the whole session's items: only this folder's are meant.
    here = Path(__file__).parent
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if item.path.is_relative_to(here) and fixtures & PROCESS_FIXTURES:
            item.add_marker(pytest.mark.slow)


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
