"""JWTs for every caller of the Airlock APIs (DESIGN §5).

Verification (``verifier``) needs only the public key and is what the API services import.
Signing (``signer``, ``keys.generate_key_pair``) belongs to the control plane alone: processes in
the execution and processing zones never import it, and a test enforces that.

Names are resolved lazily (PEP 562) so that reading a token kind or role does not import PyJWT and
cryptography: command-line start-up stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airlock.core.tokens.claims import (
        AUDIENCE_BY_KIND,
        ServiceRole,
        TokenClaims,
        TokenKind,
        UserRole,
    )
    from airlock.core.tokens.errors import (
        ExpiredToken,
        InvalidToken,
        RevokedToken,
        TokenError,
        WrongAudience,
    )
    from airlock.core.tokens.verifier import TokenVerifier

_WHERE = {
    "AUDIENCE_BY_KIND": "claims",
    "ServiceRole": "claims",
    "TokenClaims": "claims",
    "TokenKind": "claims",
    "UserRole": "claims",
    "ExpiredToken": "errors",
    "InvalidToken": "errors",
    "RevokedToken": "errors",
    "TokenError": "errors",
    "WrongAudience": "errors",
    "TokenVerifier": "verifier",
}

__all__ = [
    "AUDIENCE_BY_KIND",
    "ExpiredToken",
    "InvalidToken",
    "RevokedToken",
    "ServiceRole",
    "TokenClaims",
    "TokenError",
    "TokenKind",
    "TokenVerifier",
    "UserRole",
    "WrongAudience",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'airlock.core.tokens' has no attribute {name!r}")
    return getattr(importlib.import_module(f"airlock.core.tokens.{_WHERE[name]}"), name)
