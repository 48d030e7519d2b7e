"""Paging and sorting on a real migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.http import Problem
from airlock.db import Bundle, Dag, make_engine, make_session_factory, upgrade
from airlock.web.listing import MAX_LIMIT, Sorting, clamp_limit, page_of

SORT = Sorting(
    {"dag_id": Dag.dag_id, "bundle": Dag.bundle_name}, default="dag_id", tiebreak=[Dag.dag_id]
)


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    upgrade(db_url)
    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        session.add_all([Bundle(name="a"), Bundle(name="b")])
        for i in range(7):
            session.add(
                Dag(
                    dag_id=f"d{i}",
                    bundle_name="a" if i % 2 else "b",
                    fileloc=f"/x/d{i}.py",
                    relative_fileloc=f"d{i}.py",
                )
            )
        session.commit()
        yield session
    engine.dispose()


def test_pages_cover_every_row_once_in_order(session: Session) -> None:
    seen: list[str] = []
    for offset in range(0, 7, 3):
        rows, total = page_of(session, select(Dag), SORT.parse(None), 3, offset)
        assert total == 7
        seen.extend(d.dag_id for d in rows)
    assert seen == [f"d{i}" for i in range(7)]


def test_descending_and_multiple_keys(session: Session) -> None:
    rows, _ = page_of(session, select(Dag.dag_id), SORT.parse("bundle,-dag_id"), 10, 0)
    assert [r.dag_id for r in rows] == ["d5", "d3", "d1", "d6", "d4", "d2", "d0"]


def test_a_filter_counts_only_matching_rows(session: Session) -> None:
    query = select(Dag).where(Dag.dag_id.like("%' OR 1=1 --%"))
    rows, total = page_of(session, query, SORT.parse("-dag_id"), 10, 0)
    assert (list(rows), total) == ([], 0)


def test_unknown_sort_key_names_the_allowed_ones() -> None:
    with pytest.raises(Problem) as caught:
        SORT.parse("-password")
    assert caught.value.status_code == 400
    assert "bundle, dag_id" in str(caught.value.detail)


def test_absurd_page_sizes_are_capped() -> None:
    assert clamp_limit(10**9) == MAX_LIMIT
    assert clamp_limit(0) == 1
