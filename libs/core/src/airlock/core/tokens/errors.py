"""Why a token was refused. Each error maps to one HTTP status and says what to do next."""

from __future__ import annotations


class TokenError(Exception):
    status_code = 401


class InvalidToken(TokenError):
    """Malformed, unsigned, signed by another key, or missing a required claim."""


class ExpiredToken(TokenError):
    """The token's ``exp`` has passed."""


class RevokedToken(TokenError):
    """The token's ``jti`` is on the revocation list."""


class WrongAudience(TokenError):
    """A valid token presented to an API it was not issued for."""

    status_code = 403
