"""Pools cap how many task slots may run at once across DAGs (e.g. a database's connections).

Every task belongs to a pool; ``default_pool`` (128 slots) is created by the first migration.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from airlock.db.base import ID_LENGTH, Base

DEFAULT_POOL_NAME = "default_pool"
DEFAULT_POOL_SLOTS = 128


class Pool(Base):
    __tablename__ = "pool"

    name: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    slots: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    #: Whether deferred tasks keep holding their slots.
    include_deferred: Mapped[bool] = mapped_column(Boolean, default=False)
