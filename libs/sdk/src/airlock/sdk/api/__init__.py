"""HTTP clients for the Airlock APIs, all sending their requests down one path: bearer token,
API version header, retries by one :class:`RetryPolicy` (:mod:`airlock.sdk.api.retry` states the
rule), and errors carrying the server's problem details (:class:`ApiError`) or naming the API that
could not be reached (:class:`ApiUnreachable`).

Every client takes ``transport=`` so tests can run it against the real app in-process
(``httpx.ASGITransport``) with no socket and no mock. Other packages use only the names below
and the public client modules (``execution``, ``internal``, ``web``, ``retry``); modules whose
name starts with ``_`` are this package's own.
"""

import sys

# httpx imports its command-line tool on import, and that pulls in rich, click and pygments when
# they are installed (Litestar brings them): 0.2 s of start-up for every worker, task runner and
# DAG processor, for a CLI we never call. Marking the module absent makes httpx skip it.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from airlock.sdk.api.errors import ApiError, ApiUnreachable
from airlock.sdk.api.execution import ExecutionClient, shared_http_client
from airlock.sdk.api.internal import InternalClient
from airlock.sdk.api.retry import RetryPolicy
from airlock.sdk.api.web import WebClient, login

__all__ = [
    "ApiError",
    "ApiUnreachable",
    "ExecutionClient",
    "InternalClient",
    "RetryPolicy",
    "WebClient",
    "login",
    "shared_http_client",
]
