"""Conditional state transitions: the one way Airlock moves a row from one state to another.

``UPDATE t SET ... WHERE <key> AND state IN (<expected>)`` either moves the row or matches
nothing, atomically, on SQLite and PostgreSQL alike. A retried or duplicated call (a worker that
reports success twice, two schedulers racing) therefore finds the state already moved and gets
``False`` instead of moving it again (DESIGN §6). The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, or_, update
from sqlalchemy.orm import Session

from airlock.db.base import Base

#: What a state column may be expected to hold: one state, several, ``None`` for "no state yet".
ExpectedState = str | None | Iterable[str | None]


def transition(
    session: Session,
    model: type[Base],
    where: Mapping[str, Any],
    expected_state: ExpectedState,
    new_values: Mapping[str, Any],
    *,
    state_column: str = "state",
) -> bool:
    """Apply ``new_values`` to the row matching ``where`` if its state is ``expected_state``.

    ``where`` maps attribute names to values and must identify the row (usually its key).
    Returns whether a row moved.
    """
    if not where:
        raise ValueError(f"transition() on {model.__name__} needs a non-empty `where`")
    state = getattr(model, state_column)
    criteria: list[ColumnElement[bool]] = [getattr(model, name) == v for name, v in where.items()]
    criteria.append(_state_matches(state, expected_state))
    statement = update(model).where(*criteria).values(dict(new_values))
    result = session.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount > 0


def _state_matches(state: Any, expected: ExpectedState) -> ColumnElement[bool]:
    if expected is None or isinstance(expected, str):
        expected_states: list[str | None] = [expected]
    else:
        expected_states = list(expected)
    named = [value for value in expected_states if value is not None]
    if not named and None not in expected_states:
        raise ValueError("transition() needs at least one expected state")
    conditions: list[ColumnElement[bool]] = []
    if named:
        conditions.append(state.in_(named))
    if None in expected_states:
        conditions.append(state.is_(None))
    return or_(*conditions)
