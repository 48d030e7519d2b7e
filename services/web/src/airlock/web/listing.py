"""Paging and sorting for every Web API endpoint that returns a list.

An endpoint declares the columns it may be sorted by; the client passes ``limit``, ``offset`` and
``order_by`` (a key, ``-key`` for descending). A page is never larger than :data:`MAX_LIMIT`: an
absurd ``limit`` is capped rather than refused, so a script asking for "everything" still gets a
bounded answer and ``total_entries`` tells it to page on. An unknown sort key is a 400 that names
the allowed ones. Filters are bound parameters of the endpoint's own query, never text spliced
into SQL.

    sort = Sorting({"dag_id": Dag.dag_id, "last_parsed": Dag.last_parsed_at}, default="dag_id")
    rows, total = page_of(session, select(Dag).where(...), sort.parse(order_by), limit, offset)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from litestar.params import QueryParameter
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from airlock.core.http import Problem

#: How many rows of the list to skip; a negative one is a 422 naming ``offset``.
Offset = Annotated[int | None, QueryParameter(ge=0)]

#: A SELECT of any number of columns or entities.
AnySelect = Select[*tuple[Any, ...]]

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


class Sorting:
    """The sort keys one list endpoint accepts, and its default order.

    ``tiebreak`` columns are appended to every order so that pages are stable when the sort key
    has duplicates (two runs with the same start date land on one page or the next, never both).
    """

    def __init__(
        self,
        keys: Mapping[str, ColumnElement[Any] | Any],
        *,
        default: str,
        tiebreak: Sequence[ColumnElement[Any] | Any] = (),
    ) -> None:
        if default.lstrip("-") not in keys:
            raise ValueError(f"default sort {default!r} is not one of the keys")
        self.keys = dict(keys)
        self.default = default
        self.tiebreak = tuple(tiebreak)

    def parse(self, order_by: str | None) -> list[ColumnElement[Any]]:
        """The ORDER BY clauses for ``order_by`` (comma-separated keys, ``-`` for descending)."""
        wanted = [part.strip() for part in (order_by or self.default).split(",") if part.strip()]
        clauses: list[ColumnElement[Any]] = []
        for part in wanted or [self.default]:
            descending = part.startswith("-")
            column = self.keys.get(part.lstrip("-+"))
            if column is None:
                allowed = ", ".join(sorted(self.keys))
                raise Problem(
                    400,
                    f"cannot sort by {part.lstrip('-+')!r}; sort by one of: {allowed} "
                    "(prefix with '-' for descending)",
                    slug="bad-sort-key",
                    extra={"allowed": sorted(self.keys)},
                )
            clauses.append(column.desc() if descending else column.asc())
        clauses.extend(column.asc() for column in self.tiebreak)
        return clauses


def clamp_limit(limit: int | None) -> int:
    """``limit`` within ``1..MAX_LIMIT``; a missing one is :data:`DEFAULT_LIMIT`."""
    if limit is None:
        return DEFAULT_LIMIT
    return max(1, min(limit, MAX_LIMIT))


def page_of(
    session: Session,
    query: AnySelect,
    order: Sequence[ColumnElement[Any]],
    limit: int | None,
    offset: int | None,
) -> tuple[Sequence[Any], int]:
    """One page of ``query`` in ``order``, and how many rows the whole query has.

    Rows are whatever ``query`` selects: ORM objects for ``select(Model)``, row tuples otherwise.
    """
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = query.order_by(*order).limit(clamp_limit(limit)).offset(offset or 0)
    result = session.execute(page)
    rows: Sequence[Any] = result.scalars().all() if _is_entity(page) else result.all()
    return rows, int(total or 0)


def _is_entity(query: AnySelect) -> bool:
    """Whether ``query`` selects one ORM entity (``select(Dag)``) rather than columns."""
    descriptions = query.column_descriptions
    return len(descriptions) == 1 and descriptions[0].get("expr") is descriptions[0].get("entity")
