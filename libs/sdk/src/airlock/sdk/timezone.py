"""Dates as DAG authors write them, and as Airlock stores and hands them back.

DAG files written for Airflow use pendulum (``pendulum.datetime(2021, 1, 1, tz="UTC")``), the
standard library (``datetime(2021, 1, 1, tzinfo=ZoneInfo(...))``), pytz or dateutil zones, or
plain dates. The serializer needs exact ``datetime`` objects (msgspec encodes no subclass) and a
zone *name*; task code expects pendulum ``DateTime`` objects in its context, as in Airflow 3.
This module converts between the two, in one place:

- :func:`to_stdlib` — any date/datetime flavour → an aware standard-library ``datetime``;
- :func:`coerce_datetime` — any of them → a pendulum ``DateTime`` (naive means UTC);
- :func:`timezone_name` — any ``tzinfo`` (or zone name) → an IANA name or a ``+HH:MM`` offset.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, overload

import pendulum

utc = pendulum.UTC


def utcnow() -> pendulum.DateTime:
    """The current instant, as a pendulum ``DateTime`` in UTC."""
    return pendulum.now(utc)


def datetime(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
    tz: Any = utc,
) -> pendulum.DateTime:
    """``pendulum.datetime`` with UTC as the default zone: an aware instant."""
    return pendulum.datetime(year, month, day, hour, minute, second, microsecond, tz=tz)


def parse(value: str, timezone: Any = None) -> pendulum.DateTime:
    """An ISO 8601 string as a pendulum ``DateTime``; a string without offset is in ``timezone``
    (default UTC)."""
    parsed = pendulum.parse(value, tz=timezone or utc)
    return coerce_datetime(parsed)  # type: ignore[arg-type]


def timezone_name(tz: dt.tzinfo | str | None) -> str:
    """An IANA name (``Europe/Paris``), ``UTC``, or a fixed offset such as ``+05:30``.

    Understands standard-library, pendulum, pytz and dateutil zones and zone names.
    """
    if tz is None:
        return "UTC"
    if isinstance(tz, str):
        pendulum.timezone(tz)  # raises on an unknown name
        return tz
    name = getattr(tz, "key", None) or getattr(tz, "zone", None)
    if not isinstance(name, str) or not name:
        name = getattr(tz, "name", None)
    if not isinstance(name, str) or not name:
        # dateutil's tz.gettz keeps the zone file it read
        filename = getattr(tz, "_filename", None)
        if isinstance(filename, str) and filename:
            name = filename.rsplit("zoneinfo/", 1)[-1]
    if isinstance(name, str) and name:
        return name
    offset = tz.utcoffset(None)
    if offset is None or offset == dt.timedelta(0):
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _as_datetime(value: dt.date, default_tz: dt.tzinfo | None) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            return value.replace(tzinfo=default_tz or dt.UTC)
        return value
    zone = default_tz or dt.UTC
    return dt.datetime(value.year, value.month, value.day, tzinfo=zone)


@overload
def to_stdlib(value: None, default_tz: dt.tzinfo | None = None) -> None: ...
@overload
def to_stdlib(value: dt.date, default_tz: dt.tzinfo | None = None) -> dt.datetime: ...
def to_stdlib(value: dt.date | None, default_tz: dt.tzinfo | None = None) -> dt.datetime | None:
    """An aware, exact ``datetime.datetime`` for any date or datetime flavour.

    A naive datetime or a plain date is taken in ``default_tz`` (UTC if not given); a date is its
    midnight. The zone object is kept (its offsets are what msgspec writes).
    """
    if value is None:
        return None
    aware = _as_datetime(value, default_tz)
    return dt.datetime(
        aware.year,
        aware.month,
        aware.day,
        aware.hour,
        aware.minute,
        aware.second,
        aware.microsecond,
        tzinfo=aware.tzinfo,
        fold=aware.fold,
    )


@overload
def coerce_datetime(value: None, tz: dt.tzinfo | None = None) -> None: ...
@overload
def coerce_datetime(value: dt.date, tz: dt.tzinfo | None = None) -> pendulum.DateTime: ...
def coerce_datetime(value: dt.date | None, tz: dt.tzinfo | None = None) -> pendulum.DateTime | None:
    """A pendulum ``DateTime`` for any date or datetime flavour (naive: ``tz``, default UTC)."""
    if value is None:
        return None
    if not isinstance(value, dt.date):
        raise TypeError(f"expected a date or datetime, got {type(value).__name__} {value!r}")
    if isinstance(value, pendulum.DateTime) and value.tzinfo is not None:
        return value
    aware = _as_datetime(value, tz)
    return pendulum.instance(aware)


def json_enc_hook(value: Any) -> Any:
    """``enc_hook`` for msgspec: date, datetime and time subclasses (pendulum's) as ISO 8601
    text, durations as seconds — how the exact standard-library types are written."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise TypeError(f"Encoding objects of type {type(value).__name__} is unsupported")


__all__ = [
    "coerce_datetime",
    "datetime",
    "json_enc_hook",
    "parse",
    "timezone_name",
    "to_stdlib",
    "utc",
    "utcnow",
]
