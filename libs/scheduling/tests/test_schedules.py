"""Next-run computations for cron, presets, timedelta, @once and @continuous, with and without
catchup, start and end dates (pure: no database)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airlock.models.dag import (
    AssetOrTimeSchedule,
    AssetRef,
    AssetSchedule,
    ContinuousSchedule,
    CronSchedule,
    DeltaSchedule,
    ListedRun,
    ListedRuns,
    ListedSchedule,
    NoSchedule,
    OnceSchedule,
    SerializedDag,
)
from airlock.scheduling import DataInterval, next_run_info

UTC = dt.UTC
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
JAN1 = dt.datetime(2025, 1, 1, tzinfo=UTC)


def dag(schedule: Any, **fields: Any) -> SerializedDag:
    return SerializedDag(dag_id="d", schedule=schedule, **fields)


DAILY = CronSchedule(expr="0 0 * * *")


def test_the_run_is_for_its_tick_and_its_interval_ends_at_run_after() -> None:
    info = next_run_info(dag(DAILY, start_date=JAN1, catchup=True), None, now=JAN1 + 10 * D)
    assert info is not None
    assert info.logical_date == JAN1
    assert info.data_interval == DataInterval(JAN1, JAN1)
    assert info.run_after == info.data_interval.end == JAN1


def test_cron_with_catchup_walks_every_tick() -> None:
    d = dag(DAILY, start_date=JAN1 + 3 * H, catchup=True)
    now = JAN1 + 10 * D
    first = next_run_info(d, None, now=now)
    assert first is not None
    assert first.logical_date == JAN1 + D
    second = next_run_info(d, first.run_after, now=now)
    assert second is not None
    assert second.logical_date == JAN1 + 2 * D


def test_cron_without_catchup_runs_only_the_latest_tick() -> None:
    d = dag(DAILY, start_date=JAN1, catchup=False)
    now = JAN1 + 10 * D + 5 * H
    info = next_run_info(d, None, now=now)
    assert info is not None
    assert info.logical_date == JAN1 + 10 * D
    # after that run, the next is tomorrow's tick, not a missed one
    after = next_run_info(d, info.run_after, now=now)
    assert after is not None
    assert after.logical_date == JAN1 + 11 * D
    # a DAG paused for days skips what it missed
    later = next_run_info(d, JAN1 + 2 * D, now=now)
    assert later is not None
    assert later.logical_date == JAN1 + 10 * D


def test_cron_without_start_date_waits_for_the_next_tick() -> None:
    now = JAN1 + 5 * H
    info = next_run_info(dag(CronSchedule(expr="0 */6 * * *")), None, now=now)
    assert info is not None
    assert info.logical_date == JAN1 + 6 * H


def test_a_start_date_in_the_future() -> None:
    d = dag(DAILY, start_date=JAN1 + 30 * D, catchup=False)
    info = next_run_info(d, None, now=JAN1)
    assert info is not None
    assert info.logical_date == JAN1 + 30 * D


def test_cron_in_a_timezone_follows_daylight_saving() -> None:
    d = dag(
        CronSchedule(expr="0 2 * * *", timezone="Europe/Amsterdam"),
        start_date=dt.datetime(2025, 3, 28, tzinfo=UTC),
        catchup=True,
    )
    first = next_run_info(d, None, now=JAN1 + 200 * D)
    assert first is not None
    assert first.logical_date == dt.datetime(2025, 3, 28, 1, tzinfo=UTC)  # 02:00 CET
    after_switch = next_run_info(d, dt.datetime(2025, 3, 30, 12, tzinfo=UTC), now=JAN1 + 200 * D)
    assert after_switch is not None
    assert after_switch.logical_date == dt.datetime(2025, 3, 31, 0, tzinfo=UTC)  # 02:00 CEST


def test_end_date_stops_the_schedule() -> None:
    d = dag(DAILY, start_date=JAN1, end_date=JAN1 + 2 * D, catchup=True)
    assert next_run_info(d, JAN1 + D, now=JAN1 + 10 * D) is not None
    assert next_run_info(d, JAN1 + 2 * D, now=JAN1 + 10 * D) is None


@pytest.mark.parametrize(
    ("catchup", "after", "now", "expected"),
    [
        (True, None, JAN1 + 10 * H, JAN1),
        (True, JAN1 + 2 * H, JAN1 + 10 * H, JAN1 + 4 * H),
        (False, None, JAN1 + 10 * H, JAN1 + 10 * H),
        (False, JAN1 + 9 * H, JAN1 + 10 * H, JAN1 + 11 * H),
        (False, JAN1 + 2 * H, JAN1 + 10 * H, JAN1 + 10 * H),
    ],
)
def test_timedelta(
    catchup: bool, after: dt.datetime | None, now: dt.datetime, expected: dt.datetime
) -> None:
    d = dag(DeltaSchedule(seconds=2 * 3600), start_date=JAN1, catchup=catchup)
    info = next_run_info(d, after, now=now)
    assert info is not None
    assert info.logical_date == expected


def test_once() -> None:
    d = dag(OnceSchedule(), start_date=JAN1)
    info = next_run_info(d, None, now=JAN1 + D)
    assert info is not None
    assert info.logical_date == JAN1
    assert next_run_info(d, JAN1, now=JAN1 + D) is None
    no_start = next_run_info(dag(OnceSchedule()), None, now=JAN1 + D)
    assert no_start is not None
    assert no_start.logical_date == JAN1 + D


def test_continuous() -> None:
    now = JAN1 + D
    info = next_run_info(dag(ContinuousSchedule(), start_date=JAN1), JAN1 + H, now=now)
    assert info is not None
    assert info.data_interval == DataInterval(JAN1 + H, now)
    assert info.run_after == now


@pytest.mark.parametrize(
    "schedule", [NoSchedule(), AssetSchedule(condition=AssetRef(name="a", uri="s3://a"))]
)
def test_no_time_based_runs(schedule: Any) -> None:
    assert next_run_info(dag(schedule, start_date=JAN1), None, now=JAN1 + D) is None


def _listed(*hours: int, complete: bool = False) -> ListedSchedule:
    day = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return ListedSchedule(
        timetable="dags.Workdays",
        runs=[
            ListedRun(
                run_after=day + dt.timedelta(hours=h + 1),
                interval_start=day + dt.timedelta(hours=h),
                interval_end=day + dt.timedelta(hours=h + 1),
            )
            for h in hours
        ],
        complete=complete,
    )


def test_listed_runs_of_a_python_timetable() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    now = start + dt.timedelta(hours=10)
    listed = _listed(0, 2, 5, 12, complete=True)
    first = next_run_info(dag(listed, start_date=start, catchup=True), None, now=now)
    assert first is not None
    assert (first.logical_date, first.data_interval.end, first.run_after) == (
        start,
        start + dt.timedelta(hours=1),
        start + dt.timedelta(hours=1),
    )
    second = next_run_info(
        dag(listed, start_date=start, catchup=True), first.data_interval.end, now=now
    )
    assert second is not None
    assert second.logical_date == start + dt.timedelta(hours=2)
    # Without catch-up: the latest due run (hour 5), then the future one (hour 12).
    late = next_run_info(dag(listed, start_date=start, catchup=False), None, now=now)
    assert late is not None
    assert late.logical_date == start + dt.timedelta(hours=5)
    future = next_run_info(
        dag(listed, start_date=start, catchup=False), late.data_interval.end, now=now
    )
    assert future is not None
    assert future.run_after == start + dt.timedelta(hours=13)
    assert next_run_info(dag(listed, start_date=start), future.data_interval.end, now=now) is None


def test_the_runs_listed_beside_the_version_win_over_the_blobs() -> None:
    """Versions stored since 2026-12-09 name the timetable only; the DAG row lists the runs."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    blob_only = ListedSchedule(timetable="dags.Workdays")
    row = _listed(3, 4)
    serialized = dag(blob_only, start_date=start, catchup=True)
    assert next_run_info(serialized, None, now=start) is None
    info = next_run_info(
        serialized, None, now=start, listed=ListedRuns(runs=row.runs, complete=True)
    )
    assert info is not None
    assert info.logical_date == start + dt.timedelta(hours=3)


def test_asset_or_time_schedules_run_on_their_time_side() -> None:
    from airlock.db.assets import schedule_assets

    orders = AssetRef(name="orders", uri="s3://orders")
    both = AssetOrTimeSchedule(condition=orders, timetable=DAILY)
    info = next_run_info(dag(both, start_date=JAN1, catchup=True), None, now=JAN1 + 3 * D)
    assert info is not None
    assert info.logical_date == JAN1
    assert schedule_assets(both) == [orders]
