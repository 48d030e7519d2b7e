"""Turning Python values found in DAG definitions into plain, deterministic JSON values."""

from __future__ import annotations

import enum
import math
from datetime import date, datetime, time, timedelta
from typing import Any

from airlock.sdk.definitions.mixins import ResolveMixin
from airlock.sdk.definitions.templater import literal


class NotJson(Exception):
    """The value has no deterministic plain-JSON form."""


def to_json(value: Any) -> Any:
    """A JSON-ready copy of ``value``; raises :class:`NotJson` where there is none.

    Tuples become lists, sets sorted lists, dates ISO strings, timedeltas seconds, enums their
    value; run-time placeholders (XComArgs, ``@dag`` params) a readable description. Objects
    whose only text form includes a memory address are refused, so output never varies
    between processes.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise NotJson(f"{value!r} has no JSON form")
        return value
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, set | frozenset):
        items = [to_json(item) for item in value]
        return sorted(items, key=repr)
    if isinstance(value, dict):
        return {_json_key(key): to_json(item) for key, item in value.items()}
    if isinstance(value, literal):
        return to_json(value.value)
    if isinstance(value, ResolveMixin):
        return repr(value)
    raise NotJson(f"{type(value).__name__} has no JSON form")


def _json_key(key: Any) -> str:
    """A dict key as JSON writes it (``json.dumps`` does the same): ``None`` is ``"null"``,
    booleans ``"true"``/``"false"``; a ``values_display={None: "…"}`` key is such a case."""
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, str | int | float):
        return str(key)
    if isinstance(key, enum.Enum):
        return _json_key(key.value)
    raise NotJson(f"dict key {key!r} is not a string")


def to_json_or_omit(value: Any) -> tuple[bool, Any]:
    """``(True, json)`` or ``(False, None)`` when ``value`` has no JSON form."""
    try:
        return True, to_json(value)
    except NotJson:
        return False, None
