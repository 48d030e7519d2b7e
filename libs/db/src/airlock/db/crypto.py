"""Secrets at rest: connection passwords and extras, and variables marked secret.

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) before they reach the database, so a
database dump or backup does not reveal them. A :class:`SecretBox` holds one or more keys:
the first encrypts, every key may decrypt. Rotating the key is therefore: put the new key first,
keep the old one after it, re-encrypt (:meth:`SecretBox.rotate`), then drop the old key.
Only control-zone processes hold these keys (DESIGN §1).

``cryptography`` is imported when a box is made, not with this module: the scheduler never
touches a secret and need not carry the library in memory.
"""

from __future__ import annotations

from collections.abc import Sequence


class SecretDecryptError(Exception):
    """A stored secret could not be decrypted with any configured key."""


def generate_secret_key() -> bytes:
    """A new random key (44 url-safe base64 bytes) for :class:`SecretBox`."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key()


class SecretBox:
    """Encrypts with the first key, decrypts with any of them."""

    def __init__(self, keys: Sequence[bytes | str]) -> None:
        if not keys:
            raise ValueError(
                "SecretBox needs at least one key; create one with airlock.db.generate_secret_key()"
            )
        from cryptography.fernet import Fernet, InvalidToken, MultiFernet

        self._invalid = InvalidToken
        fernets = []
        for position, key in enumerate(keys):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError) as error:
                raise ValueError(
                    f"secrets key #{position + 1} is not a valid Fernet key (32 url-safe "
                    f"base64-encoded bytes): {error}; create one with "
                    "airlock.db.generate_secret_key()"
                ) from None
        self._fernet = MultiFernet(fernets)

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except self._invalid:
            raise SecretDecryptError(
                "cannot decrypt a stored secret with the configured secrets key(s): it was "
                "encrypted with another key (wrong key, or a rotated-out key was removed). "
                "Configure the key it was written with, after the current one."
            ) from None

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt ``token`` with the first key (it may have been written with any key)."""
        try:
            return self._fernet.rotate(token)
        except self._invalid:
            raise SecretDecryptError(
                "cannot re-encrypt a stored secret: none of the configured secrets keys "
                "decrypts it. Configure the key it was written with, after the current one."
            ) from None
