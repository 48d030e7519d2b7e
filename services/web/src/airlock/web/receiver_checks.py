"""How a receiver checks a delivery: its signature (three schemes, constant-time compares) and
the mapping of the request to an event (JMESPath). Pure functions; no DB, no I/O.

A failed check raises a :class:`~airlock.core.http.Problem` that says what was wrong without
saying what the right value would have been: 401 for a missing, malformed or wrong signature
and for a replay, 400 for a timestamp outside the replay window, 422 for a request the mapping
cannot turn into an event.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import jmespath
import jmespath.exceptions

from airlock.core.http import Problem
from airlock.models.web_assets import MAX_DEDUP_KEY_LENGTH
from airlock.models.web_receivers import ReceiverSignature


def _sign(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


def _forged(name: str, why: str) -> Problem:
    return Problem(401, f"receiver {name!r}: {why}", slug="receiver-signature-invalid")


def check_signature(
    *,
    name: str,
    scheme: ReceiverSignature,
    header: str,
    prefix: str,
    secret: str,
    tolerance_s: int,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
) -> str:
    """Verify a delivery; the signature it carried (the replay guard's key)."""
    value = headers.get(header.lower())
    if value is None:
        raise _forged(name, f"the {header} header is missing; sign the request")
    if not value.startswith(prefix):
        raise _forged(name, f"the {header} header must start with {prefix!r}")
    given = value[len(prefix) :].strip()
    if scheme is ReceiverSignature.BEARER:
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise _forged(name, f"the {header} header does not carry this receiver's token")
        return given
    if scheme is ReceiverSignature.HMAC_SHA256:
        if not hmac.compare_digest(given.encode(), _sign(secret, body).encode()):
            raise _forged(name, f"the {header} signature does not match the body")
        return given
    parts = dict(item.strip().partition("=")[::2] for item in given.split(","))
    stamp, signature = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not signature:
        raise _forged(name, f"the {header} header must read t=<unix seconds>,v1=<hex HMAC>")
    if not hmac.compare_digest(
        signature.encode(), _sign(secret, stamp.encode() + b"." + body).encode()
    ):
        raise _forged(name, f"the {header} signature does not match the timestamp and body")
    skew = abs((time.time() if now is None else now) - int(stamp))
    if skew > tolerance_s:
        raise Problem(
            400,
            f"receiver {name!r}: the signed timestamp is {skew:.0f} s away from now, outside "
            f"the {tolerance_s} s replay window; send a fresh delivery",
            slug="receiver-signature-stale",
        )
    return signature


@functools.lru_cache(maxsize=1024)
def compile_expression(expression: str) -> Any:
    """A compiled JMESPath expression; 422 naming the error when it does not parse."""
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise Problem(
            422,
            f"{expression!r} is not a JMESPath expression: {exc}",
            slug="receiver-expression-invalid",
        ) from None


def request_document(name: str, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """What the expressions see: ``{"body": <JSON>, "headers": {<lower-case>: <value>}}``."""
    document: Any = None
    if body.strip():
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Problem(
                400,
                f"receiver {name!r}: the body is not JSON ({exc})",
                slug="receiver-body-not-json",
            ) from None
    return {"body": document, "headers": {k.lower(): v for k, v in headers.items()}}


def _search(name: str, field: str, expression: str, document: dict[str, Any]) -> Any:
    try:
        return compile_expression(expression).search(document)
    except jmespath.exceptions.JMESPathError as exc:
        raise Problem(
            422,
            f"receiver {name!r}: its {field} expression {expression!r} failed on this request: "
            f"{exc}",
            slug="receiver-mapping-failed",
        ) from None


def map_event(
    name: str,
    document: dict[str, Any],
    *,
    dedup_key: str | None,
    extra: str | None,
    filter_: str | None,
) -> tuple[bool, str | None, dict[str, Any]]:
    """``(wanted, dedup key, extra)`` of the event a request makes."""
    if filter_ and not _search(name, "filter", filter_, document):
        return False, None, {}
    key = None
    if dedup_key:
        found = _search(name, "dedup_key", dedup_key, document)
        if found is None or isinstance(found, dict | list) or found == "":
            raise Problem(
                422,
                f"receiver {name!r}: its dedup_key expression {dedup_key!r} found "
                f"{'nothing' if found in (None, '') else 'no single value'} in this request",
                slug="receiver-mapping-failed",
            )
        key = str(found)
        if len(key) > MAX_DEDUP_KEY_LENGTH:
            raise Problem(
                422,
                f"receiver {name!r}: the dedup key is {len(key)} characters; at most "
                f"{MAX_DEDUP_KEY_LENGTH}",
                slug="receiver-mapping-failed",
            )
    values: dict[str, Any] = {}
    if extra:
        found = _search(name, "extra", extra, document)
        if found is not None and not isinstance(found, dict):
            raise Problem(
                422,
                f"receiver {name!r}: its extra expression {extra!r} must give an object, got "
                f"{type(found).__name__}; wrap it, e.g. {{value: {extra}}}",
                slug="receiver-mapping-failed",
            )
        values = found or {}
    return True, key, values
