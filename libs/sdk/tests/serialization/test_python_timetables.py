"""Timetables written in Python are listed by the DAG processor: the window of runs, the end of
a finite timetable, the parse errors of a misbehaving one, and a serialized DAG that only the
timetable's arguments change (the runs travel beside it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pendulum
import pytest

from airlock.models.codec import dag_hash, encode_dag
from airlock.models.dag import ListedRuns, ListedSchedule
from airlock.sdk import DAG, DagDefinitionError, EventsTimetable, MultipleCronTriggerTimetable
from airlock.sdk.definitions import python_timetables
from airlock.sdk.serialization import listed_runs, serialize_dag
from airlock.sdk.timetables import DagRunInfo, Timetable

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


class Hourly(Timetable):
    def next_dagrun_info(self, *, last_automated_data_interval: Any, restriction: Any) -> Any:
        if last_automated_data_interval is None:
            start = restriction.earliest
        else:
            start = last_automated_data_interval.end
        return DagRunInfo.interval(start, start + timedelta(hours=1))


def listed(schedule: Any, **dag_args: Any) -> ListedRuns:
    dag_args.setdefault("start_date", datetime(2026, 5, 1, tzinfo=UTC))
    with DAG("listed", schedule=schedule, **dag_args) as dag:
        pass
    result = listed_runs(dag, now=NOW)
    assert isinstance(serialize_dag(dag).schedule, ListedSchedule)
    assert result is not None
    return result


def test_a_custom_timetable_is_listed_in_a_window_around_the_parse() -> None:
    result = listed(Hourly(), catchup=True)
    past = [r for r in result.runs if r.run_after <= NOW]
    future = [r for r in result.runs if r.run_after > NOW]
    assert len(past) == python_timetables.PAST_RUNS
    assert past[-1].run_after == NOW
    assert len(future) == python_timetables.FUTURE_RUNS
    assert future[0].interval_start == NOW
    assert not result.complete


def test_events_and_multiple_crons_end_and_coincide_as_airflow_says() -> None:
    events = listed(
        EventsTimetable(
            [pendulum.datetime(2026, 5, 3, tz="UTC"), datetime(2026, 5, 2, tzinfo=UTC)]
        ),
        catchup=True,
    )
    assert [r.run_after.day for r in events.runs] == [2, 3]
    assert events.complete
    crons = listed(
        MultipleCronTriggerTimetable("0 6 * * *", "0 6,18 * * *", timezone="Europe/Paris"),
        catchup=True,
        end_date=datetime(2026, 5, 2, 12, tzinfo=UTC),
    )
    assert [r.run_after.isoformat() for r in crons.runs] == [
        "2026-05-01T04:00:00+00:00",
        "2026-05-01T16:00:00+00:00",
        "2026-05-02T04:00:00+00:00",
    ]
    assert crons.complete


class Backwards(Timetable):
    def next_dagrun_info(self, *, last_automated_data_interval: Any, restriction: Any) -> Any:
        return DagRunInfo.exact(restriction.earliest)


class Raises(Timetable):
    def next_dagrun_info(self, *, last_automated_data_interval: Any, restriction: Any) -> Any:
        raise LookupError("calendar service down")


class Junk(Timetable):
    def next_dagrun_info(self, *, last_automated_data_interval: Any, restriction: Any) -> Any:
        return "tomorrow"


@pytest.mark.parametrize(
    ("timetable", "message"),
    [
        (Backwards(), "not after the previous one's"),
        (Raises(), "failed in next_dagrun_info"),
        (Junk(), "returned 'tomorrow' from next_dagrun_info; return a DagRunInfo"),
    ],
)
def test_a_misbehaving_timetable_is_the_dags_parse_error(timetable: Any, message: str) -> None:
    with DAG(
        "bad_timetable", schedule=timetable, start_date=datetime(2026, 5, 1, tzinfo=UTC)
    ) as dag:
        pass
    with pytest.raises(DagDefinitionError, match=message):
        listed_runs(dag)


class EveryNHours(Timetable):
    """A timetable with an argument, and an attribute with no JSON form."""

    def __init__(self, hours: int) -> None:
        self.hours = hours
        self.helper = object()  # its repr holds an address, different at every parse

    def next_dagrun_info(self, *, last_automated_data_interval: Any, restriction: Any) -> Any:
        start = last_automated_data_interval.end if last_automated_data_interval else NOW
        return DagRunInfo.interval(start, start + timedelta(hours=self.hours))


def _parse(timetable: Timetable, now: datetime = NOW) -> tuple[str, ListedRuns | None]:
    """What the DAG processor makes of a fresh DAG object at ``now``: (version hash, runs)."""
    with DAG("versions", schedule=timetable, start_date=datetime(2026, 5, 1, tzinfo=UTC)) as dag:
        pass
    return dag_hash(encode_dag(serialize_dag(dag))), listed_runs(dag, now=now)


def test_parsing_again_makes_the_same_version_unless_the_timetables_arguments_change() -> None:
    first_hash, first_runs = _parse(EveryNHours(2))
    second_hash, second_runs = _parse(EveryNHours(2), now=NOW + timedelta(days=3))
    assert first_hash == second_hash
    assert first_runs != second_runs  # the runs moved with the clock; the version did not
    third_hash, _ = _parse(EveryNHours(3))
    assert third_hash != first_hash
    with DAG("config", schedule=EveryNHours(2)) as dag:
        pass
    schedule = serialize_dag(dag).schedule
    assert isinstance(schedule, ListedSchedule)
    assert schedule.timetable == f"{__name__}.EveryNHours"
    assert schedule.config == {"helper": "<builtins.object>", "hours": 2}
    assert schedule.runs == []


def test_an_events_timetable_is_a_new_version_when_its_dates_change() -> None:
    dates = [pendulum.datetime(2026, 5, 3, tz="Europe/Paris")]
    same = {_parse(EventsTimetable(dates))[0] for _ in range(2)}
    moved = _parse(EventsTimetable([pendulum.datetime(2026, 5, 4, tz="Europe/Paris")]))[0]
    assert len(same) == 1
    assert moved not in same
