"""Timestamps from clients must say which time zone they are in.

JSON has no datetime type; a timestamp without an offset could be anyone's local time. The DB
refuses to guess (``airlock.db.UtcDateTime``), and so does the API: such a value is a 422 that
names the field, not a 500 deep in a query.
"""

from __future__ import annotations

import datetime as dt
from typing import overload

from airlock.core.http import Problem


@overload
def aware(value: dt.datetime, field: str) -> dt.datetime: ...
@overload
def aware(value: None, field: str) -> None: ...
def aware(value: dt.datetime | None, field: str) -> dt.datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise Problem(
            422,
            f"{field} {value.isoformat()} has no time zone; send it with an offset, "
            f"e.g. {value.isoformat()}Z",
            slug="naive-datetime",
        )
    return value
