"""Issue tokens. Control plane only: this module needs the private key."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from airlock.core.tokens.claims import AUDIENCE_BY_KIND, TokenKind


class TokenSigner:
    def __init__(self, private_key: Ed25519PrivateKey, issuer: str = "airlock") -> None:
        self._key = private_key
        self.issuer = issuer

    def issue(self, kind: TokenKind, sub: str, ttl_s: int, **claims: Any) -> str:
        """Sign a token of ``kind`` for ``sub``; extra claims are added as given (None dropped)."""
        if ttl_s <= 0:
            raise ValueError(f"token ttl must be positive, got {ttl_s} seconds")
        now = int(time.time())
        payload: dict[str, Any] = {
            "kind": kind.value,
            "sub": sub,
            "aud": AUDIENCE_BY_KIND[kind],
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_s,
            "jti": uuid.uuid4().hex,
        }
        payload.update({k: v for k, v in claims.items() if v is not None})
        return jwt.encode(payload, self._key, algorithm="EdDSA")
