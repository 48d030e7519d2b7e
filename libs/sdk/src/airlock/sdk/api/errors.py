"""The error every Airlock API client raises for a refused request."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """The server answered with an error; ``detail`` is its problem-details explanation."""

    def __init__(self, method: str, url: str, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.detail = str(problem.get("detail") or problem.get("title") or "no detail")
        super().__init__(f"{method} {url} -> {status}: {self.detail}")
