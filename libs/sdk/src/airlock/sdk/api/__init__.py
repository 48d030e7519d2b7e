"""HTTP clients for the Airlock APIs. Every client takes ``transport=`` so tests can run it
against the real app in-process (``httpx.ASGITransport``) with no socket and no mock."""

import sys

# httpx imports its command-line tool on import, and that pulls in rich, click and pygments when
# they are installed (Litestar brings them): 0.2 s of start-up for every worker, task runner and
# DAG processor, for a CLI we never call. Marking the module absent makes httpx skip it.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from airlock.sdk.api.errors import ApiError
from airlock.sdk.api.execution import ExecutionClient
from airlock.sdk.api.internal import InternalClient

__all__ = ["ApiError", "ExecutionClient", "InternalClient"]
