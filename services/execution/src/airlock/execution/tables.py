"""Core tables and statements built once, for the Execution API's per-task calls (DESIGN §7).

Building a SQLAlchemy statement and its cache key costs more than SQLite takes to run it, and an
ORM-enabled statement adds the ORM's bookkeeping: what runs for every task uses statements built
at import time with ``bindparam`` placeholders, executed on the session's connection (the same
transaction). The task lifecycle's own statements live in ``airlock.scheduling``.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from airlock.db import RevokedToken
from airlock.scheduling.tables import RUN_INFO, AnyRow

REVOKED_TOKEN = cast(Table, RevokedToken.__table__)

__all__ = ["REVOKED_TOKEN", "RUN_INFO", "AnyRow"]
