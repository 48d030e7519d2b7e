"""The names other packages may import from ``airlock.sdk.api``: changing them is an API change."""

from __future__ import annotations

import airlock.sdk.api


def test_the_exported_names_are_pinned() -> None:
    assert sorted(airlock.sdk.api.__all__) == [
        "ApiError",
        "ApiUnreachable",
        "ExecutionClient",
        "InternalClient",
        "RetryPolicy",
        "WebClient",
        "login",
        "shared_http_client",
    ]
    for name in airlock.sdk.api.__all__:
        assert getattr(airlock.sdk.api, name).__module__.startswith("airlock.sdk.api."), name
