"""``GET /execution/identity``: lets a worker or task runner check its token before it starts."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get

from airlock.core.http import claims_of, require_kind
from airlock.core.tokens import TokenKind


class ExecutionIdentity(msgspec.Struct):
    kind: str
    subject: str
    queues: list[str] | None
    expires_at: int


@get(
    "/identity",
    operation_id="GetExecutionIdentity",
    guards=[require_kind(TokenKind.WORKER, TokenKind.TASK)],
    tags=["identity"],
)
async def get_identity(request: Request[Any, Any, Any]) -> ExecutionIdentity:
    claims = claims_of(request)
    return ExecutionIdentity(
        kind=claims.kind, subject=claims.sub, queues=claims.queues, expires_at=claims.exp
    )
