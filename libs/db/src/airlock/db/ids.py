"""Time-ordered ids for rows that are created often and looked up by id from outside.

Task instance ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. They
are opaque strings to every client (a task token's ``sub``), yet new rows land at the end of the
primary-key index instead of at random pages, which keeps inserts cheap on PostgreSQL.
Python 3.14 ships ``uuid.uuid7``; before that we build one ourselves.
"""

from __future__ import annotations

import os
import time
import uuid


def _uuid7_int() -> int:
    unix_ms = time.time_ns() // 1_000_000
    random_bits = int.from_bytes(os.urandom(10), "big")  # 80 bits, 74 of them used
    rand_a = random_bits >> 68 & 0xFFF
    rand_b = random_bits & ((1 << 62) - 1)
    return (unix_ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b


def new_uuid7() -> uuid.UUID:
    """A new UUIDv7; ids made in a later millisecond sort after earlier ones."""
    return uuid.UUID(int=_uuid7_int())


def new_task_instance_id() -> str:
    """The canonical text form (36 lowercase characters) used as ``task_instance.id``.

    Formatted without a ``uuid.UUID`` (whose checks cost more than the rest): a run of a
    10,000-task DAG makes 10,000 of them.
    """
    h = f"{_uuid7_int():032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
