"""Password hashing with Argon2id, a memory-hard KDF (OWASP's first choice).

Argon2 is built to cost tens of milliseconds of CPU and 64 MiB per hash, on several threads. An
API server runs it in worker threads (never on its event loop, ADR 0018) and one hash at a time:
a burst of log-ins then waits in line instead of taking every core from the requests around it.
"""

from __future__ import annotations

import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_one_at_a_time = threading.Lock()


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    with _one_at_a_time:
        return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        with _one_at_a_time:
            return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
