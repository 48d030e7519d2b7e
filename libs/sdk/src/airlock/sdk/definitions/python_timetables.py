"""Timetables written in Python: custom ``Timetable`` subclasses shipped in a bundle, and the
two built-in ones that are easiest to express the same way (``EventsTimetable``,
``MultipleCronTriggerTimetable``).

The scheduler runs no user code (DESIGN §1), and Airflow's way — register the class with a
plugin, serialize its arguments, call it in the scheduler — would put bundle code in the control
plane. Instead the DAG processor, which runs bundle code anyway, *lists* the runs: it asks
``next_dagrun_info`` over and over, as Airflow's scheduler would, and ships the answers as a
``ListedRuns`` (:func:`list_runs`). The list holds up to :data:`PAST_RUNS` runs before the
parse and every run up to :data:`HORIZON` after it (at most :data:`FUTURE_RUNS`); it is made
again each time the file is parsed. Consequences: catch-up reaches back at most
:data:`PAST_RUNS` runs, and a timetable whose answers change with the clock alone (not with the
runs before) is evaluated at parse time.

The list depends on the moment of the parse, so it is not part of the serialized DAG (whose
hash is the DAG version): the DAG holds a ``ListedSchedule`` naming the timetable and its own
arguments (:func:`listed_schedule`), and the runs travel beside it, on the DAG's row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
from croniter import croniter

from airlock.models.dag import ListedRun, ListedRuns, ListedSchedule
from airlock.sdk.definitions.timetables import CRON_PRESETS, Timetable, validate_cron
from airlock.sdk.exceptions import DagDefinitionError
from airlock.sdk.timezone import coerce_datetime, json_enc_hook, timezone_name, to_stdlib

if TYPE_CHECKING:
    from airlock.sdk.definitions.dag import DAG

#: How far past the parse the listed runs go, and how many runs the list may hold each side.
HORIZON = dt.timedelta(days=400)
FUTURE_RUNS = 400
PAST_RUNS = 100
#: Calls to ``next_dagrun_info`` one parse may make (a start date decades ago, a tiny period).
MAX_CALLS = 20_000


class DataInterval(NamedTuple):
    start: dt.datetime
    end: dt.datetime

    @classmethod
    def exact(cls, at: dt.datetime) -> DataInterval:
        return cls(at, at)


class TimeRestriction(NamedTuple):
    """``earliest``/``latest``: the DAG's start and end dates (inclusive); ``catchup``: whether
    runs before now are wanted."""

    earliest: dt.datetime | None
    latest: dt.datetime | None
    catchup: bool


class DagRunInfo(NamedTuple):
    run_after: dt.datetime
    data_interval: DataInterval

    @classmethod
    def exact(cls, at: dt.datetime) -> DagRunInfo:
        return cls(at, DataInterval.exact(at))

    @classmethod
    def interval(cls, start: dt.datetime, end: dt.datetime) -> DagRunInfo:
        return cls(end, DataInterval(start, end))

    @property
    def logical_date(self) -> dt.datetime:
        return self.data_interval.start


class PythonTimetable(Timetable):
    """Base of timetables whose runs come from :meth:`next_dagrun_info` (subclass it, or
    ``Timetable``, and implement that method)."""

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        raise NotImplementedError(f"{type(self).__name__} must implement next_dagrun_info()")


def is_python_timetable(timetable: Timetable) -> bool:
    """Whether ``timetable``'s runs come from its own ``next_dagrun_info``."""
    return callable(getattr(timetable, "next_dagrun_info", None))


def listed_schedule(timetable: Any) -> ListedSchedule:
    """What the serialized DAG holds of a timetable written in Python: its class and its own
    arguments, the same at every parse unless the DAG file changes them."""
    return ListedSchedule(timetable=_class_path(timetable), config=timetable_config(timetable))


def timetable_config(timetable: Any) -> dict[str, Any]:
    """The timetable's arguments as JSON values: its ``serialize()`` when it defines one (as
    Airflow's timetables do), else its public attributes; a value with no JSON form counts by
    its type, never by its ``repr`` (which may hold a memory address)."""
    serialize = getattr(timetable, "serialize", None)
    if callable(serialize):
        try:
            state = serialize()
        except Exception as exc:
            raise DagDefinitionError(
                f"timetable {_class_path(timetable)} failed in serialize(): {exc!r}"
            ) from exc
    else:
        state = {k: v for k, v in vars(timetable).items() if not k.startswith("_")}
    encoded = msgspec.json.encode(state, enc_hook=_config_value, order="sorted")
    return dict(msgspec.json.decode(encoded))


def _config_value(value: Any) -> Any:
    if isinstance(value, dt.date | dt.time | dt.timedelta):
        return json_enc_hook(value)
    if isinstance(value, dt.tzinfo):
        return timezone_name(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def _class_path(timetable: Any) -> str:
    return f"{type(timetable).__module__}.{type(timetable).__qualname__}"


def list_runs(timetable: Any, dag: DAG, *, now: dt.datetime | None = None) -> ListedRuns:
    """Ask ``timetable`` for the DAG's runs, as the scheduler would, and list them."""
    now = coerce_datetime(now or dt.datetime.now(dt.UTC))
    restriction = TimeRestriction(
        coerce_datetime(dag.start_date) if dag.start_date else None,
        coerce_datetime(dag.end_date) if dag.end_date else None,
        dag.catchup,
    )
    name = _class_path(timetable)
    past: list[ListedRun] = []
    future: list[ListedRun] = []
    last: DataInterval | None = None
    complete = False
    for _ in range(MAX_CALLS):
        info = _ask(timetable, name, last, restriction, dag)
        if info is None:
            complete = True
            break
        run = _listed(info, name, dag)
        previous = (future or past)[-1] if (past or future) else None
        if previous is not None and (
            run.interval_end <= previous.interval_end or run.run_after < previous.run_after
        ):
            raise DagDefinitionError(
                f"timetable {name} returned a run whose data interval ends at "
                f"{run.interval_end.isoformat()}, not after the previous one's; "
                "next_dagrun_info must move forward from last_automated_data_interval",
                dag_id=dag.dag_id,
            )
        if restriction.latest is not None and run.run_after > restriction.latest:
            complete = True
            break
        if run.run_after <= now:
            past = [*past[-(PAST_RUNS - 1) :], run]
        else:
            future.append(run)
            if len(future) >= FUTURE_RUNS or run.run_after > now + HORIZON:
                break
        last = DataInterval(coerce_datetime(run.interval_start), coerce_datetime(run.interval_end))
    return ListedRuns(runs=past + future, complete=complete)


def _ask(
    timetable: Any,
    name: str,
    last: DataInterval | None,
    restriction: TimeRestriction,
    dag: DAG,
) -> Any:
    try:
        return timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction
        )
    except Exception as exc:
        raise DagDefinitionError(
            f"timetable {name} failed in next_dagrun_info "
            f"(last_automated_data_interval={last!r}): {exc!r}",
            dag_id=dag.dag_id,
        ) from exc


def _listed(info: Any, name: str, dag: DAG) -> ListedRun:
    try:
        run_after, (start, end) = info
        values = [to_stdlib(coerce_datetime(v)) for v in (run_after, start, end)]
    except Exception as exc:
        raise DagDefinitionError(
            f"timetable {name} returned {info!r} from next_dagrun_info; return a DagRunInfo "
            f"(DagRunInfo.interval(start, end) or DagRunInfo.exact(at)) or None ({exc})",
            dag_id=dag.dag_id,
        ) from None
    if any(v is None or v.tzinfo is None for v in values):
        raise DagDefinitionError(
            f"timetable {name} returned naive datetimes in {info!r}; use aware ones",
            dag_id=dag.dag_id,
        )
    return ListedRun(run_after=values[0], interval_start=values[1], interval_end=values[2])


class EventsTimetable(PythonTimetable):
    """A run at each of ``event_dates``. With ``restrict_to_events=False`` (Airflow's default) a
    manual run's data interval ends at the last event before it; Airlock's manual runs keep
    their own interval, so that argument only changes nothing."""

    def __init__(
        self,
        event_dates: Iterable[Any],
        restrict_to_events: bool = False,
        presorted: bool = False,
        description: str | None = None,
    ) -> None:
        try:
            dates = [coerce_datetime(d) for d in event_dates]
        except Exception as exc:
            raise DagDefinitionError(
                f"EventsTimetable event_dates must be datetimes: {exc}"
            ) from None
        self.event_dates = dates if presorted else sorted(dates)
        self.restrict_to_events = restrict_to_events
        self.description = description
        self.summary = description or f"{len(dates)} events"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        floor = restriction.earliest
        if last_automated_data_interval is not None:
            after = last_automated_data_interval.end
            candidates = [d for d in self.event_dates if d > after]
        else:
            candidates = [d for d in self.event_dates if floor is None or d >= floor]
        return DagRunInfo.exact(candidates[0]) if candidates else None


class MultipleCronTriggerTimetable(PythonTimetable):
    """A run at every tick of any of several cron expressions (one run when they coincide)."""

    def __init__(self, *crons: str, timezone: str | dt.tzinfo = "UTC") -> None:
        if not crons:
            raise DagDefinitionError("MultipleCronTriggerTimetable needs at least one cron")
        self.crons = [CRON_PRESETS.get(c, c) for c in crons]
        for original, expr in zip(crons, self.crons, strict=True):
            validate_cron(expr, original=original)
        self.timezone = timezone_name(timezone)
        self.summary = ", ".join(crons)

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        import pendulum

        zone = pendulum.timezone(self.timezone)
        if last_automated_data_interval is not None:
            start, inclusive = last_automated_data_interval.end, False
        elif restriction.catchup and restriction.earliest is not None:
            start, inclusive = restriction.earliest, True
        else:
            start, inclusive = pendulum.now("UTC"), False
            if restriction.earliest is not None and restriction.earliest > start:
                start, inclusive = restriction.earliest, True
        moment = start.astimezone(zone) - dt.timedelta(microseconds=1 if inclusive else 0)
        ticks = [croniter(expr, moment).get_next(dt.datetime) for expr in self.crons]
        return DagRunInfo.exact(coerce_datetime(min(ticks)).in_timezone("UTC"))
