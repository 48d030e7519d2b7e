"""The notifiers against real local endpoints: an HTTP server in this process for the webhook,
and an ``aiosmtpd`` SMTP server for e-mail. Their fields are rendered with the callback's
context, the idempotency key travels with each notification, and a refusal is an error."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from airlock.sdk import BaseNotifier
from airlock.sdk.execution_time.comms import ConnectionResult
from airlock.sdk.notifications import SmtpNotifier, WebhookNotifier
from airlock.sdk.testing import InMemoryComms, use_comms

CONTEXT = {"dag_id": "etl", "run_id": "manual__1", "task_id": "load", "idempotency_key": "k-7"}


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], Any]] = []
    status = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.path, dict(self.headers), json.loads(body)))
        self.send_response(Receiver.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_url() -> Iterator[str]:
    Receiver.received = []
    Receiver.status = 204
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_webhook_posts_the_rendered_body_with_the_idempotency_key(http_url: str) -> None:
    notifier = WebhookNotifier(
        http_url + "/hooks/{{ dag_id }}",
        json={"text": "{{ task_id }} of {{ run_id }} failed", "n": 3},
        headers={"X-Team": "data"},
    )
    notifier(CONTEXT)
    ((path, headers, body),) = Receiver.received
    assert path == "/hooks/etl"
    assert body == {"text": "load of manual__1 failed", "n": 3}
    assert headers["Idempotency-Key"] == "k-7"
    assert headers["X-Team"] == "data"
    # The notifier itself is left as written: it may serve the next event.
    assert notifier.url.endswith("{{ dag_id }}")


def test_webhook_refused_is_an_error(http_url: str) -> None:
    Receiver.status = 503
    with pytest.raises(RuntimeError, match="answered 503"):
        WebhookNotifier(http_url + "/x", json={})(CONTEXT)


def test_smtp_sends_the_rendered_mail(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    SmtpNotifier(
        to=["ops@example.com"],
        subject="{{ dag_id }} failed",
        body="task {{ task_id }} in {{ run_id }}",
        host="127.0.0.1",
        port=port,
    )(CONTEXT)
    (envelope,) = inbox.messages
    text = envelope.content.decode()
    assert envelope.rcpt_tos == ["ops@example.com"]
    assert "Subject: etl failed" in text
    assert "task load in manual__1" in text
    assert "X-Airlock-Idempotency-Key: k-7" in text


def test_smtp_server_from_a_connection(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    conn = ConnectionResult(conn_id="mail", conn_type="smtp", host="127.0.0.1", port=port)
    with use_comms(InMemoryComms(connections={"mail": conn})):
        SmtpNotifier(to="a@example.com", subject="s", body="b", smtp_conn_id="mail")(CONTEXT)
    assert len(inbox.messages) == 1


def test_a_notifier_without_notify_says_so() -> None:
    class Empty(BaseNotifier):
        pass

    with pytest.raises(NotImplementedError, match="Empty must implement notify"):
        Empty()(CONTEXT)
