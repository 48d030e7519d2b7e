"""The SDK's Internal API client says which version it speaks on every request (the Execution
client's tests run against the real app in services/execution/tests/test_api_versions.py)."""

from __future__ import annotations

import httpx
import msgspec

from airlock.models.internal import BundleFilesPage
from airlock.models.versions.internal import INTERNAL_VERSIONS
from airlock.sdk.api import InternalClient


def test_the_internal_client_sends_its_version_on_every_request() -> None:
    seen: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/files"):
            page = BundleFilesPage(bundle="dags", files=[])
            return httpx.Response(200, content=msgspec.json.encode(page))
        return httpx.Response(404, json={"detail": "no such variable"})

    client = InternalClient("http://internal", "token", transport=httpx.MockTransport(server))
    assert client.list_bundle_files("dags") == []
    assert client.get_variable("dags", "missing") is None
    assert [r.headers.get("Airlock-API-Version") for r in seen] == [INTERNAL_VERSIONS.head] * 2
