"""The declarative base every Airlock table hangs off, and the two column types they share.

Constraint and index names come from one naming convention so that Alembic produces the same
names on SQLite and PostgreSQL; without it each backend invents its own and later migrations
cannot refer to a constraint by name.

Datetimes are always timezone-aware UTC in Python. PostgreSQL stores them as
``timestamptz``; SQLite has no timezone type, so :class:`UtcDateTime` stores naive UTC there and
reattaches UTC on the way out. A naive datetime handed to the database is a bug (whose local
time is it?), so it is refused rather than guessed.

States are stored as plain strings (``String(20)``) rather than database enums, so adding a
state is a Python change, not a migration; :class:`StrEnumString` turns them back into the
``airlock.models.states`` enums on load and rejects unknown values on the way in.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, Generic, TypeVar

from sqlalchemy import DateTime, Dialect, MetaData, String
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """The current time as an aware UTC datetime: the default of every timestamp column."""
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} given to a UtcDateTime column; "
                "pass an aware datetime, e.g. datetime.now(datetime.UTC)"
            )
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


E = TypeVar("E", bound=enum.StrEnum)


class StrEnumString(TypeDecorator[E], Generic[E]):
    """A ``StrEnum`` stored as ``VARCHAR(20)``; loads as the enum, refuses unknown values."""

    impl = String(20)
    cache_ok = True

    def __init__(self, enum_class: type[E]) -> None:
        super().__init__()
        self.enum_class = enum_class

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        try:
            return self.enum_class(value).value
        except ValueError:
            allowed = ", ".join(member.value for member in self.enum_class)
            raise ValueError(
                f"{value!r} is not a {self.enum_class.__name__}; expected one of: {allowed}"
            ) from None

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        if value is None:
            return None
        return self.enum_class(value)

    @property
    def python_type(self) -> type[E]:
        return self.enum_class


#: Length of the identifiers users choose: bundle names, DAG ids, run ids, task ids, keys.
ID_LENGTH = 250
#: Length of a SHA-256 hex digest, the content hash used throughout.
HASH_LENGTH = 64
