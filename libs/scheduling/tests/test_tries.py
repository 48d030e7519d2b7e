"""The try rule, evaluated by the database and in Python from its one definition: both agree on
every combination of the columns it reads (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools

from sqlalchemy import Integer, String, literal, select, union_all

from airlock.models.task_try import TaskTry
from airlock.scheduling.tries import (
    check_try,
    continues_try,
    forgets_earlier_try,
    forgets_earlier_try_of,
    next_try_number,
    try_before_start,
)

from .conftest import Env

CASES = list(itertools.product([0, 1, 2, 3], [None, "execute_complete"], [None, "2025-01-01"]))


def _evaluated(env: Env) -> list[tuple[int, str | None, str | None, bool, bool, int, int]]:
    ti = union_all(
        *(
            select(
                literal(try_number, Integer).label("try_number"),
                literal(next_method, String).label("next_method"),
                literal(first_poke_at, String).label("first_poke_at"),
            )
            for try_number, next_method, first_poke_at in CASES
        )
    ).subquery("ti")
    query = select(
        ti.c.try_number,
        ti.c.next_method,
        ti.c.first_poke_at,
        continues_try(ti),
        forgets_earlier_try(ti),
        next_try_number(ti),
        try_before_start(ti),
    )
    with env.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]  # type: ignore[misc]


def test_a_start_continues_the_try_only_of_a_started_task_that_resumes(env: Env) -> None:
    rows = _evaluated(env)
    assert len(rows) == len(CASES)
    for try_number, next_method, first_poke_at, continues, _, next_try, before in rows:
        resumes = next_method is not None or first_poke_at is not None
        assert bool(continues) == (try_number > 0 and resumes)
        assert next_try == (try_number if continues else try_number + 1)
        assert before == (try_number if continues else try_number - 1)


def test_the_python_reading_of_a_started_row_agrees_with_the_database(env: Env) -> None:
    class Row:
        def __init__(self, try_number: int, next_method: str | None, first_poke_at: str | None):
            self.try_number = try_number
            self.next_method = next_method
            self.first_poke_at = first_poke_at

    for try_number, next_method, first_poke_at, _, forgets, _, _ in _evaluated(env):
        assert forgets_earlier_try_of(Row(try_number, next_method, first_poke_at)) == bool(forgets)


def test_a_message_concerns_the_try_it_names_or_whatever_runs_when_it_names_none() -> None:
    assert check_try(2, TaskTry("ti", 2))
    assert not check_try(3, TaskTry("ti", 2))
    assert check_try(3, TaskTry("ti"))
