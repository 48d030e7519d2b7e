"""The errors every Airlock API client raises: a refused request, and an API it could not reach."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """The server answered with an error; ``detail`` is its problem-details explanation and
    ``attempts`` how many times the request was sent."""

    def __init__(
        self,
        method: str,
        url: str,
        status: int,
        problem: dict[str, Any],
        *,
        attempts: int = 1,
        elapsed_s: float = 0.0,
    ) -> None:
        self.status = status
        self.problem = problem
        self.attempts = attempts
        self.detail = str(problem.get("detail") or problem.get("title") or "no detail")
        tried = f" (after {attempts} attempts in {elapsed_s:.1f} s)" * (attempts > 1)
        super().__init__(f"{method} {url} -> {status}: {self.detail}{tried}")


class ApiUnreachable(httpx.TransportError):
    """No answer came (connection refused or reset, timeout) however often the request was
    sent. An ``httpx.TransportError``, so ``except httpx.HTTPError`` still catches it; the last
    transport error is its ``__cause__``."""

    def __init__(
        self, method: str, url: str, error: httpx.TransportError, attempts: int, elapsed_s: float
    ) -> None:
        self.attempts = attempts
        super().__init__(
            f"{method} {url}: no answer after {attempts} attempts in {elapsed_s:.1f} s "
            f"(last: {type(error).__name__}: {error}); is the API up and reachable at that URL?",
            request=request_of(error),
        )


def request_of(error: httpx.TransportError) -> httpx.Request | None:
    """The request that failed, when the error carries it (``error.request`` raises if not)."""
    try:
        return error.request
    except RuntimeError:
        return None
