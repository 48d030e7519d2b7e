"""Requests with bearer auth, retries with backoff and problem-details errors.

Only idempotent calls are retried, and the APIs make every call a client retries idempotent
(DESIGN §8): connection errors, 409 conflicts from concurrent writers, 429 and 5xx responses are
tried again with exponential backoff; any other 4xx is the caller's mistake and raised at once.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import msgspec

from airlock.sdk.api.errors import ApiError

RETRY_STATUSES = frozenset({409, 429, 502, 503, 504})


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
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "airlock-sdk"}
            if token
            else {"User-Agent": "airlock-sdk"},
            transport=transport,
            timeout=timeout_s,
        )
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
