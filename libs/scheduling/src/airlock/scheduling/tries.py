"""A task instance's tries: which try a start runs, and whether a word about a try still concerns
the row.

``task_instance.try_number`` counts the tries started. A start begins a new try, except when the
task resumes the try it is in: after a deferral (``next_method``) or when a reschedule-mode sensor
pokes again (``first_poke_at``); ``airlock.scheduling.finish`` leaves those set for this. That
rule is written once (``_continues``) and evaluated in SQL (:func:`continues_try`, over any source
of a task instance's columns: the table itself, or a CTE of it), so the start of one task, the
batched start, the one-statement hand-out, the read that predicts a claimed task's try and the
give-back evaluate the same definition in the database. Only the rows a start returns are judged
in Python (:func:`forgets_earlier_try_of`), from the same definition.

A heartbeat, an end report and a give-back name the try they are about (:class:`TaskTry`: the
task token's ``try_number``); :func:`on_try` (in SQL) and :func:`check_try` (on a row already read)
say whether it is still the row's try. A message about a try that is over (the task was cleared
and runs again) never lands on the try running now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import ColumnElement, and_, case, not_, or_
from sqlalchemy.sql.expression import ColumnClause

from airlock.models.task_try import TaskTry

__all__ = [
    "TaskTry",
    "check_try",
    "continues_try",
    "forgets_earlier_try",
    "forgets_earlier_try_of",
    "next_try_number",
    "on_try",
    "try_before_start",
]


class TaskInstanceColumns(Protocol):
    """A table or CTE with (at least) a task instance's try columns in ``.c``."""

    @property
    def c(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class _Logic:
    both: Callable[[Any, Any], Any]
    either: Callable[[Any, Any], Any]
    negate: Callable[[Any], Any]
    is_set: Callable[[Any], Any]


_IN_SQL = _Logic(and_, or_, not_, lambda column: column.is_not(None))
_IN_PYTHON = _Logic(
    lambda a, b: a and b, lambda a, b: a or b, lambda a: not a, lambda value: value is not None
)


def _continues(ti: Any, logic: _Logic) -> Any:
    """The rule, written once for both evaluations: a try was started (``try_number > 0``) and
    the task resumes it, after a deferral or a reschedule."""
    return logic.both(
        ti.try_number > 0,
        logic.either(logic.is_set(ti.next_method), logic.is_set(ti.first_poke_at)),
    )


def _forgets(started: Any, logic: _Logic) -> Any:
    return logic.both(logic.negate(_continues(started, logic)), started.try_number > 1)


def continues_try(ti: TaskInstanceColumns) -> ColumnElement[bool]:
    """Whether starting ``ti`` continues its current try rather than beginning a new one."""
    return cast(ColumnElement[bool], _continues(ti.c, _IN_SQL))


def next_try_number(ti: TaskInstanceColumns) -> ColumnElement[int]:
    """The try a start of ``ti`` runs."""
    return case((continues_try(ti), ti.c.try_number), else_=ti.c.try_number + 1)


def try_before_start(started: TaskInstanceColumns) -> ColumnElement[int]:
    """The try a started instance had before its start (what un-starting it gives back)."""
    return case((continues_try(started), started.c.try_number), else_=started.c.try_number - 1)


def forgets_earlier_try(started: TaskInstanceColumns) -> ColumnElement[bool]:
    """Whether a just-started instance began a try after its first: it starts without what an
    earlier try pushed (a resumed try keeps it; before a second try there is nothing)."""
    return cast(ColumnElement[bool], _forgets(started.c, _IN_SQL))


def forgets_earlier_try_of(started: Any) -> bool:
    """:func:`forgets_earlier_try` of a row a start returned, evaluated here: SQLite (3.40)
    misjudges ``IS NOT NULL`` of an unchanged column in an ``UPDATE``'s ``RETURNING``."""
    return bool(_forgets(started, _IN_PYTHON))


def on_try(ti: TaskInstanceColumns, try_number: ColumnElement[Any] | int) -> ColumnElement[bool]:
    """The row is on try ``try_number`` (a bound parameter, usually)."""
    column: ColumnClause[int] = ti.c.try_number
    return column == try_number


def check_try(current_try: int, of: TaskTry) -> bool:
    """Whether a message about ``of`` concerns a row read on try ``current_try`` (a message that
    does not name its try concerns whatever try runs now)."""
    return of.try_number is None or of.try_number == current_try
