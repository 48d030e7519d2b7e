"""Response headers that tell a browser how little an API answer may do.

Every answer carries ``X-Content-Type-Options: nosniff`` (a JSON body is never run as a script or
a style sheet), ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer`` and a Content Security
Policy. The APIs answer data, never pages, so their policy allows nothing at all, and
``frame-ancestors 'none'`` keeps any page from framing them. The OpenAPI docs page is the one
page: its policy allows scripts, styles and images from this server only (the docs assets are
served by the API itself, :mod:`airlock.core.http.docs_page`) plus the page's own inline start-up
script.
"""

from __future__ import annotations

from litestar.types import BeforeMessageSendHookHandler, Message, Scope

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


def security_headers(docs_path: str) -> BeforeMessageSendHookHandler:
    """A ``before_send`` hook adding the headers to every response; the pages under
    ``docs_path`` (except its JSON document) get the docs policy."""

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        path = scope.get("path", "")
        is_page = path.startswith(docs_path) and not path.endswith(".json")
        policy = DOCS_POLICY if is_page else API_POLICY
        headers = list(message.get("headers") or [])
        present = {name.lower() for name, _ in headers}
        headers += [(k, v) for k, v in _COMMON if k not in present]
        if b"content-security-policy" not in present:
            headers.append((b"content-security-policy", policy.encode()))
        message["headers"] = headers

    return add_headers
