"""The clients' one retry policy, played against a flaky server at the transport seam: which
answers are retried, how long the waits are, when retrying stops, and what the log says."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterator

import httpx
import msgspec
import pytest

from airlock.models.internal import BundleSync, BundleSyncResult
from airlock.models.secrets import VariableValue
from airlock.sdk.api import (
    ApiError,
    ApiUnreachable,
    ExecutionClient,
    InternalClient,
    RetryPolicy,
    WebClient,
)
from airlock.sdk.api.retry import retry_after_s

VARIABLE = "/internal/bundles/dags/variables/greeting"
SYNCED = BundleSyncResult(bundle="dags", dags=[], import_errors=0, stale_dags=[])
FAST = RetryPolicy(first_backoff_s=0.001, max_backoff_s=0.004)

#: What the flaky server does on each attempt: a status (with headers), or an exception to raise.
Step = int | tuple[int, dict[str, str]] | Exception


class FlakyServer:
    """Answers each request with the next step of its script, then 200 with a variable value;
    records when each request came."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.times.append(time.monotonic())
        step = self.steps.pop(0) if self.steps else 200
        if isinstance(step, Exception):
            raise step
        status, headers = step if isinstance(step, tuple) else (step, {})
        if status == 200:
            answer = (
                SYNCED if request.method == "PUT" else VariableValue(key="greeting", value="hi")
            )
            body = msgspec.json.encode(answer)
            return httpx.Response(200, content=body)
        return httpx.Response(
            status, json={"detail": f"flaky {status}"}, headers=headers, request=request
        )

    @property
    def attempts(self) -> int:
        return len(self.times)

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.times, self.times[1:], strict=False)]


@pytest.fixture
def client_for() -> Iterator[Callable[..., InternalClient]]:
    made: list[InternalClient] = []

    def make(server: FlakyServer, retry: RetryPolicy = FAST) -> InternalClient:
        client = InternalClient(
            "http://internal", "token", transport=httpx.MockTransport(server), retry=retry
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_transient_statuses_are_retried(
    client_for: Callable[..., InternalClient], status: int
) -> None:
    server = FlakyServer(status, status)
    assert client_for(server).get_variable("dags", "greeting") == "hi"
    assert server.attempts == 3


def test_connection_errors_are_retried(client_for: Callable[..., InternalClient]) -> None:
    server = FlakyServer(httpx.ConnectError("refused"), httpx.ReadError("reset"))
    assert client_for(server).get_variable("dags", "greeting") == "hi"
    assert server.attempts == 3


@pytest.mark.parametrize("status", [400, 401, 403, 409, 422, 500])
def test_answers_that_would_not_change_are_raised_at_once(
    client_for: Callable[..., InternalClient], status: int
) -> None:
    server = FlakyServer(status)
    with pytest.raises(ApiError) as refused:
        client_for(server).get_variable("dags", "greeting")
    assert (refused.value.status, refused.value.attempts, server.attempts) == (status, 1, 1)
    assert refused.value.detail == f"flaky {status}"


def test_a_caller_may_ask_for_its_409_to_be_retried(
    client_for: Callable[..., InternalClient],
) -> None:
    """The bundle sync's 409 is a concurrent upload of the same DAGs: sending it again is right."""
    server = FlakyServer(409)
    assert client_for(server).sync_bundle("dags", BundleSync(files=[])) == SYNCED
    assert server.attempts == 2


def test_backoff_bounds_double_up_to_the_cap() -> None:
    policy = RetryPolicy(first_backoff_s=0.25, max_backoff_s=1.5)
    assert [policy.backoff_bound_s(n) for n in range(1, 6)] == [0.25, 0.5, 1.0, 1.5, 1.5]


def test_backoff_is_drawn_across_its_whole_range() -> None:
    policy = RetryPolicy(first_backoff_s=0.25, max_backoff_s=1.5)
    rng = random.Random(13)
    for retry in range(1, 6):
        bound = policy.backoff_bound_s(retry)
        waits = [policy.backoff_s(retry, rng) for _ in range(500)]
        assert all(0.0 <= w <= bound for w in waits)
        assert min(waits) < 0.1 * bound, "full jitter: a wait may be short"
        assert max(waits) > 0.9 * bound, "full jitter: a wait may reach its bound"


def test_the_waits_between_attempts_stay_within_their_bounds(
    client_for: Callable[..., InternalClient],
) -> None:
    policy = RetryPolicy(attempts=6, first_backoff_s=0.02, max_backoff_s=0.06)
    server = FlakyServer(503, 503, 503, 503, 503)
    client_for(server, policy).get_variable("dags", "greeting")
    assert server.attempts == 6
    bounds = [policy.backoff_bound_s(n) for n in range(1, 6)]
    assert bounds == [0.02, 0.04, 0.06, 0.06, 0.06]
    slack = 0.05  # the request itself and the scheduler
    assert all(gap <= bound + slack for gap, bound in zip(server.gaps(), bounds, strict=True))


def test_the_attempts_are_counted_and_named_when_they_run_out(
    client_for: Callable[..., InternalClient],
) -> None:
    server = FlakyServer(*[503] * 10)
    with pytest.raises(ApiError) as gave_up:
        client_for(server, RetryPolicy(attempts=3, first_backoff_s=0.001)).get_variable(
            "dags", "greeting"
        )
    assert (gave_up.value.status, gave_up.value.attempts, server.attempts) == (503, 3, 3)
    assert str(gave_up.value).startswith(f"GET http://internal{VARIABLE} -> 503: flaky 503")
    assert "after 3 attempts" in str(gave_up.value)


def test_the_deadline_stops_retries_and_the_error_says_where_and_how_often(
    client_for: Callable[..., InternalClient],
) -> None:
    policy = RetryPolicy(attempts=1000, first_backoff_s=0.02, max_backoff_s=0.05, deadline_s=0.4)
    server = FlakyServer(*[502] * 1000)
    started = time.monotonic()
    with pytest.raises(ApiError) as gave_up:
        client_for(server, policy).get_variable("dags", "greeting")
    took = time.monotonic() - started
    assert took <= policy.deadline_s + 0.1, "no wait runs past the deadline"
    assert took >= policy.deadline_s - policy.max_backoff_s, "it kept trying until then"
    assert 1 < gave_up.value.attempts == server.attempts < 1000, "the deadline stopped it"
    message = str(gave_up.value)
    assert f"GET http://internal{VARIABLE} -> 502" in message
    assert f"(after {server.attempts} attempts in " in message


def test_an_api_never_reached_raises_a_transport_error_naming_url_and_attempts(
    client_for: Callable[..., InternalClient],
) -> None:
    server = FlakyServer(*[httpx.ConnectError("connection refused")] * 10)
    with pytest.raises(ApiUnreachable) as unreachable:
        client_for(server, RetryPolicy(attempts=4, first_backoff_s=0.001)).get_variable(
            "dags", "greeting"
        )
    assert isinstance(unreachable.value, httpx.TransportError), "callers catch httpx.HTTPError"
    assert isinstance(unreachable.value.__cause__, httpx.ConnectError)
    assert unreachable.value.attempts == server.attempts == 4
    assert str(unreachable.value).startswith(
        f"GET http://internal{VARIABLE}: no answer after 4 attempts"
    )
    assert "connection refused" in str(unreachable.value)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(client_for: Callable[..., InternalClient], status: int) -> None:
    server = FlakyServer((status, {"Retry-After": "0.3"}))
    assert client_for(server).get_variable("dags", "greeting") == "hi"
    assert server.gaps()[0] >= 0.3, "FAST's own backoff is a few milliseconds"


def test_a_retry_after_past_the_deadline_gives_up_at_once(
    client_for: Callable[..., InternalClient],
) -> None:
    server = FlakyServer((503, {"Retry-After": "120"}))
    started = time.monotonic()
    with pytest.raises(ApiError) as gave_up:
        client_for(server, RetryPolicy(deadline_s=5.0)).get_variable("dags", "greeting")
    assert time.monotonic() - started < 1.0
    assert (gave_up.value.status, server.attempts) == (503, 1)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    def after(value: str) -> float | None:
        return retry_after_s(httpx.Response(503, headers={"Retry-After": value}))

    assert after("2") == 2.0
    assert after("-1") == 0.0
    in_ten = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8.0 <= (after(in_ten) or 0.0) <= 10.0
    assert after("soon") is None
    assert retry_after_s(httpx.Response(503)) is None


def test_an_outage_is_logged_once_at_its_start_each_wait_and_its_end(
    client_for: Callable[..., InternalClient], caplog: pytest.LogCaptureFixture
) -> None:
    server = FlakyServer(503, httpx.ConnectError("refused"), 503)
    with caplog.at_level(logging.INFO, logger="airlock.sdk.api"):
        client_for(server).get_variable("dags", "greeting")
    records = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "airlock.sdk.api"]
    url = f"http://internal{VARIABLE}"
    assert [level for level, _ in records] == [
        logging.WARNING,
        logging.INFO,
        logging.INFO,
        logging.INFO,
    ]
    first, *waits, recovery = [message for _, message in records]
    assert first.startswith(f"GET {url} failed (503: flaky 503); retrying in ")
    assert waits[0].startswith(f"GET {url} failed again (ConnectError: refused, attempt 2)")
    assert waits[1].startswith(f"GET {url} failed again (503: flaky 503, attempt 3)")
    assert recovery.startswith(f"GET {url} answered 200 after 4 attempts in ")


def test_a_request_that_succeeds_logs_nothing(
    client_for: Callable[..., InternalClient], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="airlock.sdk.api"):
        assert client_for(FlakyServer()).get_variable("dags", "greeting") == "hi"
    assert not [r for r in caplog.records if r.name == "airlock.sdk.api"]


def test_a_policy_that_cannot_work_is_refused() -> None:
    with pytest.raises(ValueError, match="attempts must be at least 1, got 0"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="first_backoff_s <= max_backoff_s"):
        RetryPolicy(first_backoff_s=2.0, max_backoff_s=1.0)


def test_a_refusal_after_retries_says_how_many_attempts_it_took(
    client_for: Callable[..., InternalClient],
) -> None:
    server = FlakyServer(503, 400)
    with pytest.raises(ApiError) as refused:
        client_for(server).get_variable("dags", "greeting")
    assert (refused.value.status, refused.value.attempts) == (400, 2)
    assert "-> 400: flaky 400 (after 2 attempts in " in str(refused.value)


@pytest.mark.parametrize("kind", ["execution", "internal", "web"])
def test_every_client_sends_through_the_same_retrying_path(kind: str) -> None:
    server = FlakyServer(503, httpx.ConnectError("refused"))
    transport = httpx.MockTransport(server)
    if kind == "execution":
        with ExecutionClient("http://api", "t", transport=transport, retry=FAST) as execution:
            assert execution.get_variable("greeting") == "hi"
    elif kind == "internal":
        internal = InternalClient("http://api", "t", transport=transport, retry=FAST)
        assert internal.get_variable("dags", "greeting") == "hi"
        internal.close()
    else:
        web = WebClient("http://api", "t", transport=transport, retry=FAST)
        assert web.request("GET", "/api/v1/variables/greeting").json()["value"] == "hi"
        web.close()
    assert server.attempts == 3


def test_requests_sharing_a_client_share_the_apis_outage(
    client_for: Callable[..., InternalClient], caplog: pytest.LogCaptureFixture
) -> None:
    server = FlakyServer(httpx.ConnectError("refused"), httpx.ConnectError("refused"))
    client = client_for(server, RetryPolicy(attempts=2, first_backoff_s=0.001, max_backoff_s=0.004))
    with caplog.at_level(logging.INFO, logger="airlock.sdk.api"):
        with pytest.raises(ApiUnreachable):
            client.get_variable("dags", "greeting")  # gives up while the API is still down
        assert client.get_variable("dags", "greeting") == "hi"  # a later request: it is back
    messages = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "airlock.sdk.api"]
    warnings = [m for level, m in messages if level == logging.WARNING]
    recoveries = [m for _, m in messages if " answered 200 " in m]
    assert len(warnings) == 1, messages  # one outage, one warning
    assert len(recoveries) == 1, messages
    assert "the API failed for" in recoveries[0]
