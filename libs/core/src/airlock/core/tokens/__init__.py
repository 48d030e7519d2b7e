"""JWTs for every caller of the Airlock APIs (DESIGN §5).

Verification (``verifier``) needs only the public key and is what the API services import.
Signing (``signer``, ``keys.generate_key_pair``) belongs to the control plane alone: processes in
the execution and processing zones never import it, and a test enforces that.
"""

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
