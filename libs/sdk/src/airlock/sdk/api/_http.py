"""Requests with bearer auth, retries with backoff and problem-details errors.

Only idempotent calls are retried, and the APIs make every call a client retries idempotent
(DESIGN §8): connection errors, 409 conflicts from concurrent writers, 429 and 5xx responses are
tried again with exponential backoff; any other 4xx is the caller's mistake and raised at once.

A client of a versioned API (Execution, Internal) sends the version it was written for in
``Airlock-API-Version`` on every request, and :class:`ServerVersionCheck` warns once when the
server says its head is older than that (a server must be at least as new as its clients).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import msgspec

from airlock.sdk.api.errors import ApiError

RETRY_STATUSES = frozenset({409, 429, 502, 503, 504})
VERSION_HEADER = "Airlock-API-Version"
log = logging.getLogger("airlock.sdk.api")


class ServerVersionCheck:
    """Warns once per client when a response says the server's head version is older than the
    version this client speaks: the server then refuses its requests (400) until it is upgraded."""

    def __init__(self, api: str, version: str) -> None:
        self.api = api
        self.version = version
        self._done = False

    def __call__(self, response: httpx.Response) -> None:
        if self._done:
            return
        server = response.headers.get(VERSION_HEADER)
        if server is None:
            return
        self._done = True
        if server < self.version:
            log.warning(
                "the %s API at %s is older than this client: the server's newest version is %s, "
                "this client speaks %s. Upgrade the server first (a server must be at least as "
                "new as its clients); until then it refuses this client's requests.",
                self.api,
                response.url.copy_with(path="/", query=None),
                server,
                self.version,
            )


def version_headers(api_version: str | None) -> dict[str, str]:
    return {VERSION_HEADER: api_version} if api_version else {}


class HttpSession:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 30.0,
        retries: int = 5,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        api: tuple[str, str] | None = None,
    ) -> None:
        """``api`` is the versioned API's name and the version this client speaks."""
        headers = {"User-Agent": "airlock-sdk"} | version_headers(api[1] if api else None)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, transport=transport, timeout=timeout_s
        )
        self._check_version = ServerVersionCheck(*api) if api else None
        self._retries = retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s

    def request(
        self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        content = msgspec.json.encode(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else None
        delay = self._backoff_s
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                response = self._client.request(
                    method, path, content=content, params=params, headers=headers
                )
            except httpx.TransportError:
                if last:
                    raise
            else:
                if self._check_version is not None:
                    self._check_version(response)
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRY_STATUSES or last:
                    raise ApiError(
                        method, str(response.url), response.status_code, _problem(response)
                    )
            time.sleep(delay)
            delay = min(delay * 2, self._max_backoff_s)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._client.close()


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text[:500] or response.reason_phrase}
    return body if isinstance(body, dict) else {"detail": str(body)}
