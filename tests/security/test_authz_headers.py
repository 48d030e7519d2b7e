"""What a browser and a slow client meet at `airlock api`, over real HTTP (issue 18, part 10):
security headers on every answer, a docs page that loads nothing from another host, and a
request head that must arrive in time."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.processes import ApiServer, Home, start_api, stop


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/health", 200),
        ("/api/v1/auth/me", 401),
        ("/api/v1/no-such-thing", 404),
        ("/execution/health", 200),
        ("/internal/bundles/b/files", 401),
    ],
)
def test_every_answer_carries_the_security_headers(api: ApiServer, path: str, status: int) -> None:
    with api.client() as client:
        response = client.get(path)
    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.parametrize("prefix", ["/api/v1", "/execution", "/internal"])
def test_the_docs_page_loads_only_this_servers_assets(api: ApiServer, prefix: str) -> None:
    with api.client() as client:
        page = client.get(f"{prefix}/openapi")
        assert page.status_code == 200
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        assert sources, page.text[:500]
        for source in sources:
            assert source.startswith(f"{prefix}/openapi/assets/"), source
            asset = client.get(source)
            assert asset.status_code == 200, source
            assert asset.headers["x-content-type-options"] == "nosniff"
        assert client.get(f"{prefix}/openapi/assets/swagger-editor-bundle.js").status_code == 404
        assert client.get(f"{prefix}/openapi/assets/..%2F__init__.py").status_code == 404


@pytest.fixture(scope="module")
def impatient(home: Home) -> Iterator[ApiServer]:
    server = start_api(home, "web", extra_env={"AIRLOCK_API__HEADER_TIMEOUT_S": "1"})
    yield server
    stop(server)


def test_a_request_head_sent_too_slowly_is_408_and_closed(impatient: ApiServer) -> None:
    port = int(impatient.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
        answer = b""
        try:
            for _ in range(6):  # a header line every half second, never the blank line
                time.sleep(0.5)
                sock.sendall(b"X-Slow: 1\r\n")
        except OSError:
            pass  # closed by the server, as it should be
        while chunk := sock.recv(4096):
            answer += chunk
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert elapsed < 5


def test_a_connection_that_sends_nothing_is_closed(impatient: ApiServer) -> None:
    port = int(impatient.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        assert sock.recv(4096).startswith(b"HTTP/1.1 408")
        assert sock.recv(4096) == b""


def test_a_prompt_client_on_a_kept_alive_connection_is_served(impatient: ApiServer) -> None:
    with impatient.client() as client:
        for _ in range(3):
            assert client.get("/api/v1/health").status_code == 200
