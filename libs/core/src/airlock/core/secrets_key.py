"""The Fernet key that encrypts connection passwords and variables at rest (control zone only)."""

from __future__ import annotations

import base64
import os
from pathlib import Path


def ensure_secrets_key(path: Path) -> bool:
    """Create a random key at ``path`` if there is none; return whether one was created."""
    if path.exists():
        return False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.urlsafe_b64encode(os.urandom(32)))
    return True


def read_secrets_keys(path: Path) -> list[bytes]:
    """All keys in the file, newest first (one per line), so old secrets stay readable after a
    rotation adds a new first line."""
    try:
        lines = path.read_bytes().split()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"secrets key {path} does not exist: run `airlock keys generate`"
        ) from None
    return [line for line in lines if line]
