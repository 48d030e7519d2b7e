"""RFC 9457 problem details for every error an Airlock API returns.

Handlers raise ``Problem`` (or any Litestar ``HTTPException``) and the client receives
``application/problem+json`` with ``type``, ``title``, ``status`` and a ``detail`` that names what
was wrong. An unexpected exception is logged with its traceback and answered with a 500 problem
that leaks nothing; every one of those is a bug to fix.

A body that breaks a constraint of its wire type (``airlock.models``: lengths, bounds, patterns)
is a 422 ``invalid-body`` naming each field; a body that is not UTF-8 or is nested deeper than the
decoder goes is a 400 ``malformed-body``, as any JSON that does not parse; a datetime without a time zone is a 422
``naive-datetime``, in a body or, through :func:`require_aware`, in a query string.

Two kinds of database error are not bugs and get their own answer: the database being down,
unreachable or busy (a 503 with ``Retry-After``; clients retry it), a request with more values
than one PostgreSQL statement carries (a 413, not a 503: retrying would not help), and a value the database
cannot store or compare, such as a NUL character in PostgreSQL text (a 400 naming the driver's
reason). They arrive as SQLAlchemy exceptions, recognised by name so this package need not
import SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from airlock.core.tokens.errors import TokenError

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("airlock.http")


class Problem(HTTPException):
    """An error with a status, a short slug for ``type`` and a detail for people."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        slug: str | None = None,
        extra: dict[str, Any] | list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail=detail, status_code=status_code, extra=extra, headers=headers)
        self.slug = slug


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    extra: dict[str, Any] | list[Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": f"https://airlock.dev/problems/{slug or _slug(title)}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if isinstance(extra, dict):
        body.update({k: v for k, v in extra.items() if k not in body})
    elif extra:
        body["errors"] = extra
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _slug(name: str) -> str:
    """``Not Found`` and ``WrongAudience`` become ``not-found`` and ``wrong-audience``."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    return spaced.lower().replace(" ", "-").replace("'", "")


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    detail = exc.detail
    extra = exc.extra
    slug = getattr(exc, "slug", None)
    if isinstance(exc, ValidationException):
        status, detail, slug = _classify_validation(exc)
    elif status == 400 and _caused_by_decoding(exc):
        detail, slug = f"request body is not valid JSON: {exc.detail}", "malformed-body"
    elif status == 413 and not isinstance(exc, Problem):
        detail = (
            f"request body is larger than this API accepts ({request.app.request_max_body_size} "
            "bytes); send less data per request"
        )
    return problem_response(status, detail, slug=slug, extra=extra, headers=exc.headers)


def _classify_validation(exc: ValidationException) -> tuple[int, str, str]:
    """Litestar says 400 for both unparseable JSON and a well-formed body of the wrong shape.

    Clients need to tell them apart: the first is 400 ``malformed-body``, the second is 422
    ``invalid-body`` with the failing field named in ``detail``.
    """
    errors = exc.extra if isinstance(exc.extra, list) else []
    messages = [str(e.get("message", "")) for e in errors if isinstance(e, dict)]
    if not messages or any("malformed" in m.lower() for m in messages):
        # No field to blame: the body itself could not be decoded.
        return 400, f"request body is not valid JSON: {exc.detail}", "malformed-body"
    if all(m.startswith(_NAIVE_MESSAGE) for m in messages):
        keys = [str(e.get("key") or "body") for e in errors if isinstance(e, dict)]
        return 422, _naive_detail(", ".join(keys)), NAIVE_DATETIME
    fields = [
        f"{e.get('key') or 'body'}: {e.get('message')}" for e in errors if isinstance(e, dict)
    ]
    return 422, "request does not match the expected shape: " + "; ".join(fields), "invalid-body"


NAIVE_DATETIME = "naive-datetime"
#: What msgspec says of a datetime without an offset where the type is ``AwareDatetime``.
_NAIVE_MESSAGE = "Expected `datetime` with a timezone component"


def _naive_detail(field: str) -> str:
    return f"{field} has no time zone; send it with an offset, e.g. 2026-05-01T12:00:00Z"


def require_aware(value: dt.datetime | None, field: str) -> dt.datetime | None:
    """A datetime from the query string must say its time zone, as one from a body must.

    msgspec checks ``AwareDatetime`` while a body decodes; Litestar parses query parameters
    without that check, so a handler passes its datetime parameters through here. Both answer
    the same 422 ``naive-datetime`` problem naming the field.
    """
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise Problem(
            422,
            _naive_detail(field),
            slug=NAIVE_DATETIME,
            extra=[{"message": _NAIVE_MESSAGE, "key": field, "source": "query"}],
        )
    return value


def _caused_by_decoding(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        if isinstance(cause, msgspec.DecodeError | SerializationException):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _token_error(request: Request[Any, Any, Any], exc: TokenError) -> Response[Any]:
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status_code == 401 else {}
    return problem_response(
        exc.status_code, str(exc), slug=_slug(type(exc).__name__), headers=headers
    )


def _out_of_range(request: Request[Any, Any, Any], exc: OverflowError) -> Response[Any]:
    """A number too large for the database (an id of 20 digits in a path): the client's mistake."""
    return problem_response(
        422,
        f"a number in this request is out of the range the server can store or look up: {exc}",
        slug="value-out-of-range",
    )


#: What psycopg says of a statement with more bind parameters than PostgreSQL's protocol carries.
_TOO_MANY_PARAMETERS = "number of parameters must be between 0 and 65535"


def too_many_values(exc: Exception) -> Response[Any] | None:
    """413 for a request whose values overflow one PostgreSQL statement (65,535 parameters):
    the client sent too much at once, the database is fine."""
    if _TOO_MANY_PARAMETERS not in str(getattr(exc, "orig", None) or exc):
        return None
    return problem_response(
        413,
        "this request names more values than one database statement can carry (65,535); "
        "send them in smaller batches",
        slug="too-many-values",
    )


def _database_problem(request: Request[Any, Any, Any], exc: Exception) -> Response[Any] | None:
    if not type(exc).__module__.startswith("sqlalchemy."):
        return None
    overflow = too_many_values(exc)
    if overflow is not None:
        return overflow
    kind = type(exc).__name__
    if getattr(exc, "connection_invalidated", False) or kind == "OperationalError":
        log.warning(
            "database unavailable on %s %s: %s", request.method, request.url.path, _reason(exc)
        )
        return problem_response(
            503,
            "the database is unavailable or busy; try again shortly",
            slug="database-unavailable",
            headers={"Retry-After": "1"},
        )
    if kind == "DataError":
        return problem_response(
            400,
            f"a value in this request cannot be stored or compared: {_reason(exc)}",
            slug="bad-value",
        )
    return None


def _reason(exc: Exception) -> str:
    """The driver's own message, first line only (never the SQL or its parameters)."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__


def _undecodable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A body msgspec refused below its own error type: bytes that are not UTF-8, or JSON nested
    deeper than the decoder recurses."""
    if isinstance(exc, UnicodeDecodeError):
        detail = f"request body is not valid UTF-8 JSON: {exc.reason} at byte {exc.start}"
    elif "deserializ" in str(exc):
        detail = "request body is nested too deeply to decode; send flatter JSON"
    else:
        return _unexpected(request, exc)
    return problem_response(400, detail, slug="malformed-body")


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    database = _database_problem(request, exc)
    if database is not None:
        return database
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal error; the server logged it with this request's path",
        slug="internal-error",
    )


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    HTTPException: _http_exception,
    TokenError: _token_error,
    OverflowError: _out_of_range,
    UnicodeDecodeError: _undecodable,
    RecursionError: _undecodable,
    Exception: _unexpected,
}
