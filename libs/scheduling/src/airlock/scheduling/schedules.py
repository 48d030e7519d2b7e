"""When a time-scheduled DAG's next run is due, and what it is for.

Airflow 3 semantics, where a cron string or a timedelta is a *trigger* timetable (Airflow 3's
default, ``CronTriggerTimetable`` / ``DeltaTriggerTimetable``):

- a run is due at each tick (``run_after``); its ``logical_date`` is that tick and its data
  interval is the zero-length interval ending there (``[tick, tick]``), so the data interval
  always ends at the run's ``run_after``. (Airflow's ``CronTriggerTimetable(interval=…)`` would
  give a longer interval; the serialized schedule has no such field yet.)
- ``catchup=True``: one run per tick from ``start_date`` (the first tick at or after it), each
  after the previous automated run.
- ``catchup=False``: only the latest tick that has passed (or the next one after the last run,
  or after ``start_date``, whichever is later) — missed ticks are not run.
- a timedelta ticks every ``delta`` from ``start_date`` with catch-up; without catch-up it runs
  "now" once ``delta`` has passed since the last run.
- ``@once``: one run at ``start_date`` (or as soon as seen without one), never again.
- ``@continuous``: a new run as soon as the previous one ended; its data interval runs from the
  previous run's end to now.
- a timetable written in Python (``ListedSchedule``): the runs the DAG processor listed at its
  latest parse (``ListedRuns``, kept on the DAG's row; a version stored before 2026-12-09 holds
  them itself), the first after the last automated run (without catch-up, the latest one due);
- ``AssetOrTimeSchedule``: its time side, as above (its asset side is ``asset_runs``');
- no ``end_date`` tick is passed; DAGs with no schedule or an asset schedule get no time-based run.

Cron expressions are evaluated in the schedule's timezone (DST-aware, via croniter); every
datetime returned is aware UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple
from zoneinfo import ZoneInfo

from croniter import croniter

from airlock.models.dag import (
    AssetOrTimeSchedule,
    ContinuousSchedule,
    CronSchedule,
    DeltaSchedule,
    ListedRuns,
    ListedSchedule,
    OnceSchedule,
    SerializedDag,
)

UTC = dt.UTC


class DataInterval(NamedTuple):
    start: dt.datetime
    end: dt.datetime


class NextRun(NamedTuple):
    logical_date: dt.datetime
    data_interval: DataInterval
    #: Set when a listed run says so; otherwise the end of the data interval.
    listed_run_after: dt.datetime | None = None

    @property
    def run_after(self) -> dt.datetime:
        """When the run may be created and started (the end of its data interval, unless a
        listed run says otherwise)."""
        return self.listed_run_after or self.data_interval.end


def next_run_info(
    dag: SerializedDag,
    after: dt.datetime | None,
    *,
    now: dt.datetime | None = None,
    listed: ListedRuns | None = None,
) -> NextRun | None:
    """The DAG's next automated run after the one whose ``run_after`` is ``after``.

    ``after`` is the ``run_after`` (= data interval end) of the DAG's latest scheduled run, or
    ``None`` when it has none; ``listed`` the runs the DAG processor listed for a timetable
    written in Python (the DAG row's ``listed_runs``). ``None`` as the answer means no further
    time-based run.
    """
    now = (now or dt.datetime.now(UTC)).astimezone(UTC)
    schedule = dag.schedule
    if isinstance(schedule, AssetOrTimeSchedule):
        schedule = schedule.timetable  # its asset side is asset_runs'
    start = dag.start_date.astimezone(UTC) if dag.start_date else None
    info: NextRun | None
    if isinstance(schedule, CronSchedule):
        tick = _next_cron_tick(_Cron(schedule), after, start, now, catchup=dag.catchup)
        info = _exact(tick)
    elif isinstance(schedule, DeltaSchedule):
        tick = _next_delta_tick(schedule.seconds, after, start, now, catchup=dag.catchup)
        info = _exact(tick)
    elif isinstance(schedule, OnceSchedule):
        info = None if after is not None else _exact(start or now)
    elif isinstance(schedule, ListedSchedule):
        info = next_listed_run(
            schedule if listed is None else listed, after, now, catchup=dag.catchup
        )
    elif isinstance(schedule, ContinuousSchedule):
        run_after = max(now, start) if start else now
        info = NextRun(run_after, DataInterval(after or start or run_after, run_after))
    else:
        return None
    if info is None:
        return None
    if dag.end_date is not None and info.run_after > dag.end_date.astimezone(UTC):
        return None
    return info


def next_listed_run(
    schedule: ListedRuns | ListedSchedule,
    after: dt.datetime | None,
    now: dt.datetime,
    *,
    catchup: bool,
) -> NextRun | None:
    """The next of the runs the DAG processor listed for a timetable written in Python: the
    first whose data interval ends after ``after``; without catch-up, the latest one that is
    due (or the next one)."""
    pending = [r for r in schedule.runs if after is None or r.interval_end.astimezone(UTC) > after]
    if not pending:
        return None
    chosen = pending[0]
    if not catchup:
        due = [r for r in pending if r.run_after.astimezone(UTC) <= now]
        chosen = due[-1] if due else pending[0]
    start, end = chosen.interval_start.astimezone(UTC), chosen.interval_end.astimezone(UTC)
    return NextRun(start, DataInterval(start, end), chosen.run_after.astimezone(UTC))


def _exact(tick: dt.datetime) -> NextRun:
    return NextRun(tick, DataInterval(tick, tick))


class _Cron:
    def __init__(self, schedule: CronSchedule) -> None:
        self.expr = schedule.expr
        self.tz = ZoneInfo(schedule.timezone)

    def after(self, moment: dt.datetime) -> dt.datetime:
        """The first tick strictly after ``moment``."""
        found = croniter(self.expr, moment.astimezone(self.tz)).get_next(dt.datetime)
        return found.astimezone(UTC)

    def before(self, moment: dt.datetime) -> dt.datetime:
        """The last tick strictly before ``moment``."""
        found = croniter(self.expr, moment.astimezone(self.tz)).get_prev(dt.datetime)
        return found.astimezone(UTC)

    def at_or_after(self, moment: dt.datetime) -> dt.datetime:
        following = self.after(moment)
        return moment if self.before(following) == moment else following

    def at_or_before(self, moment: dt.datetime) -> dt.datetime:
        previous = self.before(moment)
        return moment if self.after(previous) == moment else previous


def _next_cron_tick(
    cron: _Cron,
    after: dt.datetime | None,
    start: dt.datetime | None,
    now: dt.datetime,
    *,
    catchup: bool,
) -> dt.datetime:
    if catchup:
        if after is not None:
            return cron.after(after)
        return cron.at_or_after(start) if start else cron.after(now)
    candidates = [cron.at_or_before(now)]
    if after is not None:
        candidates.append(cron.after(after))
    elif start is None:
        candidates.append(cron.after(now))
    if start is not None:
        candidates.append(cron.at_or_after(start))
    return max(candidates)


def _next_delta_tick(
    seconds: float,
    after: dt.datetime | None,
    start: dt.datetime | None,
    now: dt.datetime,
    *,
    catchup: bool,
) -> dt.datetime:
    delta = dt.timedelta(seconds=seconds)
    if catchup:
        if after is not None:
            return after + delta
        return start or now
    candidates = [now]
    if after is not None:
        candidates.append(after + delta)
    if start is not None:
        candidates.append(start)
    return max(candidates)
