"""Verify tokens with the public key only.

The algorithm is pinned to EdDSA, so an unsigned (``alg: none``) or HMAC token is refused before
any claim is read. The audience is checked last, after the signature, so a 403 for a wrong
audience is only ever given to a token we really issued.

Verifying an Ed25519 signature costs more than the rest of a small request, and a runner sends the
same task token several times (start, heartbeats, logs, state), so a token whose signature was
checked is remembered (its exact text, so nothing else can match it). Everything that can change
while it is remembered is still checked on every use: expiry, audience and revocation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from airlock.core.tokens.claims import AUDIENCE_BY_KIND, TokenClaims
from airlock.core.tokens.errors import ExpiredToken, InvalidToken, RevokedToken, WrongAudience

_REQUIRED = ["exp", "iat", "sub", "aud", "iss", "jti"]
#: Tokens whose signature was verified, remembered by their text; the oldest go first.
CACHE_SIZE = 4096


class TokenVerifier:
    def __init__(
        self,
        public_key: Ed25519PublicKey,
        *,
        issuer: str = "airlock",
        leeway_s: int = 10,
        is_revoked: Callable[[str], bool] | None = None,
        blocking: bool = False,
    ) -> None:
        #: Whether :meth:`verify` may wait on I/O (a DB query): callers on an event loop then
        #: run it in a thread.
        self.blocking = blocking
        self._key = public_key
        self._issuer = issuer
        self._leeway = leeway_s
        self._is_revoked = is_revoked
        self._verified: dict[str, TokenClaims] = {}
        self._lock = threading.Lock()

    def verify(self, token: str, audience: str) -> TokenClaims:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._check_signature(token)
            with self._lock:
                if len(self._verified) >= CACHE_SIZE:
                    del self._verified[next(iter(self._verified))]
                self._verified[token] = claims
        elif claims.exp + self._leeway < time.time():
            raise ExpiredToken("token has expired; obtain a new one")
        if claims.aud != audience:
            raise WrongAudience(
                f"this is a {claims.kind} token for the {claims.aud} API; "
                f"the {audience} API needs a token issued for it"
            )
        if self._is_revoked is not None and self._is_revoked(claims.jti):
            raise RevokedToken(f"token {claims.jti} has been revoked")
        return claims

    def _check_signature(self, token: str) -> TokenClaims:
        """The claims of ``token`` once its signature, issuer, times and shape are checked."""
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=["EdDSA"],
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": _REQUIRED, "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise ExpiredToken("token has expired; obtain a new one") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"token is not valid: {exc}") from None
        try:
            claims = msgspec.convert(payload, TokenClaims)
        except msgspec.ValidationError as exc:
            raise InvalidToken(f"token claims are malformed: {exc}") from None
        if AUDIENCE_BY_KIND.get(claims.kind) != claims.aud:
            raise InvalidToken(f"a {claims.kind} token cannot have audience {claims.aud!r}")
        return claims


def verifier_from_settings(
    public_key_path: Path,
    *,
    issuer: str,
    leeway_s: int,
    is_revoked: Callable[[str], bool] | None,
    blocking: bool = False,
) -> TokenVerifier:
    from airlock.core.tokens.keys import load_public_key

    return TokenVerifier(
        load_public_key(public_key_path),
        issuer=issuer,
        leeway_s=leeway_s,
        is_revoked=is_revoked,
        blocking=blocking,
    )
