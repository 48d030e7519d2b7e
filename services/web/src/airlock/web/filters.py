"""Filters shared by the Web API's list endpoints, always as bound parameters.

``contains`` matches a case-insensitive substring with the user's ``%`` and ``_`` escaped, so a
search is never a pattern; ``json_list_has`` asks whether a JSON list column (tags, owners,
roles) holds a value, in each database's own JSON functions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from airlock.core.http import Problem


def contains(column: ColumnElement[Any] | Any, text: str) -> ColumnElement[bool]:
    """Case-insensitive substring match; the user's ``%`` and ``_`` match only themselves."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    matched: ColumnElement[bool] = column.ilike(f"%{escaped}%", escape="\\")
    return matched


def json_list_has(session: Session, column: Any, value: str) -> ColumnElement[bool]:
    """Whether the JSON list in ``column`` holds the string ``value`` (SQLite or PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    function = func.json_each if dialect == "sqlite" else func.json_array_elements_text
    elements = function(column).table_valued("value")
    return exists(select(1).select_from(elements).where(elements.c.value == value))


def plain_text(name: str, value: str | list[str] | None) -> None:
    """Refuse a NUL character, which no stored text holds (and PostgreSQL cannot even compare)."""
    values = [value] if isinstance(value, str) else value or []
    if any("\x00" in item for item in values):
        raise Problem(400, f"{name} must not contain NUL (\\x00) characters", slug="bad-text")
