"""The two notifiers people reach for first: a webhook (an HTTP request with a JSON body) and an
e-mail over SMTP. Both are :class:`~airlock.sdk.bases.notifier.BaseNotifier` s, so their text
fields are Jinja templates rendered with the callback's context, and both fail loudly (an
exception the callback processor records and retries) when the other end refuses.
"""

from __future__ import annotations

import smtplib
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from typing import Any

import httpx

from airlock.sdk.bases.notifier import BaseNotifier
from airlock.sdk.definitions.connection import Connection


class WebhookNotifier(BaseNotifier):
    """Send ``json`` (rendered) to ``url`` with ``method``; a non-2xx answer is an error.

    The callback's idempotency key travels in the ``Idempotency-Key`` header, so a receiver
    can drop a redelivery of the same event.
    """

    template_fields = ("url", "json", "headers")

    def __init__(
        self,
        url: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.json = json
        self.headers = dict(headers or {})
        self.method = method
        self.timeout_s = timeout_s

    def notify(self, context: Mapping[str, Any]) -> None:
        headers = dict(self.headers)
        if context.get("idempotency_key"):
            headers.setdefault("Idempotency-Key", str(context["idempotency_key"]))
        response = httpx.request(
            self.method, self.url, json=self.json, headers=headers, timeout=self.timeout_s
        )
        if response.status_code >= 300:
            raise RuntimeError(
                f"webhook {self.method} {self.url} answered {response.status_code}: "
                f"{response.text[:500]}"
            )


class SmtpNotifier(BaseNotifier):
    """Send an e-mail. The server is ``host``/``port``, or the connection ``smtp_conn_id``
    (host, port, login, password; ``extra`` may set ``{"starttls": true}``)."""

    template_fields = ("to", "subject", "body", "from_email")

    def __init__(
        self,
        to: str | Sequence[str],
        subject: str,
        body: str,
        *,
        from_email: str = "airlock@localhost",
        smtp_conn_id: str | None = None,
        host: str = "localhost",
        port: int = 25,
        timeout_s: float = 30.0,
    ) -> None:
        self.to = [to] if isinstance(to, str) else list(to)
        self.subject = subject
        self.body = body
        self.from_email = from_email
        self.smtp_conn_id = smtp_conn_id
        self.host = host
        self.port = port
        self.timeout_s = timeout_s

    def notify(self, context: Mapping[str, Any]) -> None:
        host, port, login, password, starttls = self.host, self.port, None, None, False
        if self.smtp_conn_id:
            conn = Connection.get(self.smtp_conn_id)
            host, port = conn.host or host, conn.port or port
            login, password = conn.login, conn.password
            starttls = bool(conn.extra_dejson.get("starttls"))
        message = EmailMessage()
        message["From"] = self.from_email
        message["To"] = ", ".join(self.to)
        message["Subject"] = self.subject
        if context.get("idempotency_key"):
            message["X-Airlock-Idempotency-Key"] = str(context["idempotency_key"])
        message.set_content(self.body)
        with smtplib.SMTP(host, port, timeout=self.timeout_s) as smtp:
            if starttls:
                smtp.starttls()
            if login:
                smtp.login(login, password or "")
            smtp.send_message(message)


__all__ = ["SmtpNotifier", "WebhookNotifier"]
