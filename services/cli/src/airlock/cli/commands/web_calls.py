"""What the CLI's Web API verbs share: a logged-in Web API client and error translation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from airlock.cli.errors import CliError


@contextmanager
def web_session() -> Iterator[Any]:
    """A Web API client with the saved login (``airlock login``); API errors become CLI errors
    naming what the server said."""
    from airlock.cli.commands.dags import client_token
    from airlock.core.settings import load_settings
    from airlock.sdk.api import ApiError, WebClient

    settings = load_settings()
    session = WebClient(settings.client.api_url, client_token(settings))
    try:
        yield session
    except ApiError as exc:
        raise CliError(exc.detail if exc.status < 500 else str(exc)) from None
    finally:
        session.close()


def seg(value: str) -> str:
    """``value`` as one URL path segment."""
    return quote(value, safe="")


def call(method: str, path: str, **options: Any) -> Any:
    """One Web API call (``/api/v1{path}``); the decoded JSON answer (None for no content)."""
    with web_session() as session:
        response = session.request(method, f"/api/v1{path}", **options)
        return response.json() if response.content else None
