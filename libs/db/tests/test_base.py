from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from airlock.db import Bundle, DagRun
from airlock.models.states import DagRunState, DagRunType


def test_datetimes_come_back_aware_and_in_utc(session: Session):
    paris_noon = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    session.add(Bundle(name="local", created_at=paris_noon))
    session.commit()
    session.expunge_all()

    stored = session.get(Bundle, "local")
    assert stored is not None
    assert stored.created_at == paris_noon
    assert stored.created_at.tzinfo == dt.UTC
    assert stored.created_at.hour == 10


def test_datetime_comparisons_use_utc(session: Session):
    session.add(Bundle(name="local", created_at=dt.datetime(2030, 6, 1, 10, tzinfo=dt.UTC)))
    session.commit()
    # 11:30 on the wall clock, but 09:30 UTC: before the stored 10:00 UTC.
    half_past_nine_utc = dt.datetime(2030, 6, 1, 11, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    created_before = select(Bundle.name).where(Bundle.created_at < half_past_nine_utc)
    assert session.scalars(created_before).all() == []
    created_after = select(Bundle.name).where(Bundle.created_at > half_past_nine_utc)
    assert session.scalars(created_after).all() == ["local"]


def test_naive_datetimes_are_refused(session: Session):
    session.add(Bundle(name="local", created_at=dt.datetime(2030, 6, 1, 12)))
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_states_are_plain_strings_in_the_table_and_enums_in_python(
    session: Session, make_dag_run: Callable[..., DagRun]
):
    run = make_dag_run()
    session.expunge_all()
    assert session.execute(text("SELECT state, run_type FROM dag_run")).one() == (
        "queued",
        "manual",
    )
    stored = session.get(DagRun, run.id)
    assert stored is not None
    assert stored.state is DagRunState.QUEUED
    assert stored.run_type is DagRunType.MANUAL


def test_unknown_states_are_refused(session: Session, make_dag_run: Callable[..., DagRun]):
    run = make_dag_run()
    run.state = "finished"  # type: ignore[assignment]
    with pytest.raises(StatementError, match="'finished' is not a DagRunState"):
        session.flush()
