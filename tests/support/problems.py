"""The check every API test makes of an error: an RFC 9457 problem document."""

from __future__ import annotations

from typing import Any

import httpx


def problem(response: httpx.Response, status: int, says: str = "") -> dict[str, Any]:
    """Assert an RFC 9457 problem with ``status`` whose detail mentions ``says`` (in any case);
    its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status, body
    assert body["type"].startswith("https://"), body
    assert says.lower() in body["detail"].lower(), body
    return body
