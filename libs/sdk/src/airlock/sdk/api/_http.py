"""The one request path of every Airlock API client: bearer auth, the API version header,
retries by :class:`~airlock.sdk.api.retry.RetryPolicy`, and problem-details errors.

A client of a versioned API (Execution, Internal) sends the version it was written for in
``Airlock-API-Version`` on every request, and :class:`ServerVersionCheck` warns once when the
server says its head is older than that (a server must be at least as new as its clients).

A request that fails and is retried says so in the log, once per event: a warning for the first
failure, a line for each further wait, and one when the API answers again — so an outage of a few
seconds that the retries ride out is visible, not silent. The outage is the API's, not one
request's: requests sharing an ``httpx.Client`` (a worker's pollers and heartbeats, a request sent
after another gave up) share it, so an outage gets one warning and one recovery line, however many
requests met it.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Collection
from typing import Any

import httpx
import msgspec

from airlock.sdk.api.errors import ApiError, ApiUnreachable, request_of
from airlock.sdk.api.retry import RetryPolicy

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


def new_http_client(
    base_url: str,
    *,
    api_version: str | None = None,
    transport: httpx.BaseTransport | None = None,
    timeout_s: float = 30.0,
) -> httpx.Client:
    """An ``httpx.Client`` (one connection pool) that any number of sessions may share: each
    request carries its session's token."""
    headers = {"User-Agent": "airlock-sdk"}
    if api_version:
        headers[VERSION_HEADER] = api_version
    return httpx.Client(
        base_url=base_url.rstrip("/"), headers=headers, transport=transport, timeout=timeout_s
    )


class HttpSession:
    """Requests to one API with one token over ``client``, which is closed with the session
    only when ``owns_client``. ``api`` is the versioned API's name and the version spoken."""

    def __init__(
        self,
        client: httpx.Client,
        token: str,
        *,
        retry: RetryPolicy,
        api: tuple[str, str] | None = None,
        owns_client: bool = True,
    ) -> None:
        self._client = client
        self._owns_client = owns_client
        self._retry = retry
        self._check_version = ServerVersionCheck(*api) if api else None
        self.set_token(token)

    def set_token(self, token: str) -> None:
        self.token = token
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: httpx.Timeout | None = None,
        accept: Collection[int] = (),
        retry_also: Collection[int] = (),
    ) -> httpx.Response:
        return self.call(
            method,
            path,
            body=body,
            params=params,
            timeout=timeout,
            accept=accept,
            retry_also=retry_also,
        )[0]

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: httpx.Timeout | None = None,
        accept: Collection[int] = (),
        retry_also: Collection[int] = (),
    ) -> tuple[httpx.Response, int]:
        """Send with retries; return the response and how many attempts it took. Statuses in
        ``accept`` are returned rather than raised; those in ``retry_also`` are retried on top
        of the policy's."""
        content = msgspec.json.encode(body) if body is not None else None
        headers = self._auth | _JSON if content is not None else self._auth
        options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        policy = self._retry
        outage = _Outage(method, policy, _api_outage(self._client))
        attempt = 0
        while True:
            attempt += 1
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = self._client.request(
                    method, path, content=content, params=params, headers=headers, **options
                )
            except httpx.TransportError as exc:
                outcome = exc
                failed = request_of(exc)
                url = str(failed.url) if failed is not None else path
            else:
                url = str(outcome.url)
                if self._check_version is not None:
                    self._check_version(outcome)
                status = outcome.status_code
                if status < 400 or status in accept:
                    outage.ended(url, status, attempt)
                    return outcome, attempt
                if status not in policy.statuses and status not in retry_also:
                    outage.ended(url, status, attempt)  # it answered: the API is back
                    raise api_error(method, outcome, attempts=attempt, elapsed_s=outage.elapsed_s())
            answer = outcome if isinstance(outcome, httpx.Response) else None
            wait = policy.wait_s(attempt, answer)
            elapsed = outage.elapsed_s()
            if attempt >= policy.attempts or elapsed + wait > policy.deadline_s:
                if isinstance(outcome, httpx.Response):
                    raise api_error(method, outcome, attempts=attempt, elapsed_s=elapsed)
                raise ApiUnreachable(method, url, outcome, attempt, elapsed) from outcome
            outage.failed(url, attempt, outcome, wait)
            time.sleep(wait)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


_JSON = {"Content-Type": "application/json"}


class _ApiOutage:
    """Whether the API behind one ``httpx.Client`` is failing, as its requests found it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.since: float | None = None


_outages: weakref.WeakKeyDictionary[httpx.Client, _ApiOutage] = weakref.WeakKeyDictionary()
_outages_lock = threading.Lock()


def _api_outage(client: httpx.Client) -> _ApiOutage:
    with _outages_lock:
        outage = _outages.get(client)
        if outage is None:
            outage = _outages[client] = _ApiOutage()
        return outage


class _Outage:
    """What one request logs while it is retried: the API's first failure (a warning, once per
    outage of the API whichever request meets it), each further wait, and the answer that ends
    the outage (once)."""

    def __init__(self, method: str, policy: RetryPolicy, api: _ApiOutage) -> None:
        self.method = method
        self.policy = policy
        self.api = api
        self.started = time.monotonic()
        self.last = ""

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def failed(
        self, url: str, attempt: int, what: httpx.Response | httpx.TransportError, wait: float
    ) -> None:
        this = (
            _status(what) if isinstance(what, httpx.Response) else f"{type(what).__name__}: {what}"
        )
        with self.api.lock:
            first = self.api.since is None
            if first:
                self.api.since = time.monotonic()
        if first:
            log.warning(
                "%s %s failed (%s); retrying in %.2f s, for up to %.0f s",
                self.method,
                url,
                this,
                wait,
                self.policy.deadline_s,
            )
        else:
            log.info(
                "%s %s failed again (%s, attempt %d); retrying in %.2f s",
                self.method,
                url,
                this,
                attempt,
                wait,
            )
        self.last = this

    def ended(self, url: str, status: int, attempt: int) -> None:
        with self.api.lock:
            since, self.api.since = self.api.since, None
        if since is not None:
            log.info(
                "%s %s answered %d after %d attempts in %.1f s (%s before; the API failed "
                "for %.1f s)",
                self.method,
                url,
                status,
                attempt,
                self.elapsed_s(),
                self.last or "failed",
                time.monotonic() - since,
            )


def api_error(
    method: str, response: httpx.Response, *, attempts: int = 1, elapsed_s: float = 0.0
) -> ApiError:
    """The error for a refused request, with the server's problem details."""
    return ApiError(
        method,
        str(response.url),
        response.status_code,
        _problem(response),
        attempts=attempts,
        elapsed_s=elapsed_s,
    )


def _status(response: httpx.Response) -> str:
    return f"{response.status_code}: {_problem(response).get('detail') or response.reason_phrase}"


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text[:500] or response.reason_phrase}
    return body if isinstance(body, dict) else {"detail": str(body)}
