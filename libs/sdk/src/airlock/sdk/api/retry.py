"""When an Airlock API client tries a request again, and how long it waits: one policy for every
client (Execution, Internal, Web) and every process that uses one.

The rule. The APIs make every call a client retries idempotent (DESIGN §8), so what decides a
retry is only whether the answer can change by itself:

- a connection error or timeout (``httpx.TransportError``), and the statuses that mean "not now":
  429 (too many requests), 502, 503 (the database is unavailable: the APIs answer it with
  ``Retry-After``) and 504 — tried again;
- 500 is an error the server logged as unexpected: trying again only repeats it, later;
- 409 is an answer about state (the task moved elsewhere, the run exists): the caller must act on
  it, never insist. A caller that knows a conflict of its own is transient says so for that call
  (``retry_also={409}``), as one that expects a status as an answer says ``accept={404}``;
- any other 4xx is the caller's mistake and raised at once.

Waits grow exponentially from ``first_backoff_s`` up to ``max_backoff_s``, each drawn at random
between zero and that bound ("full jitter", so that clients failing together do not come back
together); a ``Retry-After`` on a 429 or 503 is the least wait. A request stops after
``attempts`` tries, or when the next wait would end past ``deadline_s`` from its first try, and
raises with the URL, the last status and the number of attempts.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Statuses whose ``Retry-After`` header says when to come back.
RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """How a client retries. The defaults ride out an outage of about five seconds on average
    (the mean waits are 0.2, 0.4, 0.8, 1.6 and 2.5 s) and never try past ``deadline_s``;
    ``RetryPolicy(attempts=1)`` never retries."""

    attempts: int = 6
    first_backoff_s: float = 0.4
    max_backoff_s: float = 5.0
    deadline_s: float = 20.0
    statuses: frozenset[int] = field(default=RETRY_STATUSES)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be at least 1, got {self.attempts}")
        if self.first_backoff_s < 0 or self.max_backoff_s < self.first_backoff_s:
            raise ValueError(
                "RetryPolicy needs 0 <= first_backoff_s <= max_backoff_s, got "
                f"{self.first_backoff_s} and {self.max_backoff_s}"
            )

    def backoff_bound_s(self, retry: int) -> float:
        """The longest wait before retry number ``retry`` (1 for the first retry)."""
        return min(self.max_backoff_s, self.first_backoff_s * 2 ** (retry - 1))

    def backoff_s(self, retry: int, rng: random.Random | None = None) -> float:
        """A wait before retry number ``retry``, drawn uniformly up to its bound."""
        return (rng or _rng).uniform(0.0, self.backoff_bound_s(retry))

    def wait_s(self, retry: int, response: httpx.Response | None) -> float:
        """The wait before retry number ``retry`` after ``response`` (None: no answer came)."""
        drawn = self.backoff_s(retry)
        if response is not None and response.status_code in RETRY_AFTER_STATUSES:
            return max(drawn, retry_after_s(response) or 0.0)
        return drawn


def retry_after_s(response: httpx.Response) -> float | None:
    """The wait a ``Retry-After`` header asks for (seconds or an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


_rng = random.Random()
