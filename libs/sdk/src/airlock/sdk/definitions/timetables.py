"""What a DAG's ``schedule`` argument means, checked while the DAG file is parsed.

``schedule`` accepts what Airflow 3 accepts: ``None``, a cron string, a preset (``@daily`` …,
``@once``, ``@continuous``), a ``timedelta``, an asset, an asset expression, a list of assets
(all of them), or one of the timetable objects below. :func:`to_timetable` turns each into a
timetable object; the serializer writes those as ``airlock.models.dag`` schedules. Computing run
dates is the scheduler's job, not the SDK's: here a cron expression is only *validated*.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta, tzinfo
from typing import Any

from airlock.sdk.definitions.asset import AssetAll, BaseAsset
from airlock.sdk.exceptions import DagDefinitionError
from airlock.sdk.timezone import timezone_name

CRON_PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# name, low, high, symbolic names (index + offset = value)
_FIELDS: list[tuple[str, int, int, list[str], int]] = [
    ("minute", 0, 59, [], 0),
    ("hour", 0, 23, [], 0),
    ("day-of-month", 1, 31, [], 0),
    ("month", 1, 12, _MONTHS, 1),
    ("day-of-week", 0, 7, _DAYS, 0),
]
_ITEM = re.compile(r"^(?P<range>\*|\?|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>\d+))?$")


class Timetable:
    """A normalized schedule; ``summary`` is what the UI shows."""

    summary: str = ""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(vars(self).items()))))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.summary!r})"


class NullTimetable(Timetable):
    """Runs only when triggered (``schedule=None``)."""

    summary = "None"


class OnceTimetable(Timetable):
    summary = "@once"


class ContinuousTimetable(Timetable):
    """A new run as soon as the previous one ends (``@continuous``; max_active_runs=1)."""

    summary = "@continuous"


class CronTriggerTimetable(Timetable):
    """A run at each cron tick, in ``timezone`` (``None``: the DAG's timezone)."""

    def __init__(self, cron: str, *, timezone: str | tzinfo | None = None) -> None:
        self.expression = CRON_PRESETS.get(cron, cron)
        validate_cron(self.expression, original=cron)
        try:
            self.timezone = None if timezone is None else timezone_name(timezone)
        except Exception:
            raise DagDefinitionError(
                f"timezone {timezone!r} is not a known time zone; use an IANA name such as "
                "'Europe/Paris', or a tzinfo"
            ) from None
        self.summary = cron


class DeltaTriggerTimetable(Timetable):
    """A run every ``delta`` after the start date."""

    def __init__(self, delta: timedelta) -> None:
        if delta <= timedelta(0):
            raise DagDefinitionError(f"schedule timedelta must be positive, got {delta!r}")
        self.delta = delta
        self.summary = str(delta)


class AssetTriggeredTimetable(Timetable):
    """A run when the asset condition is satisfied by new asset events."""

    def __init__(self, condition: BaseAsset) -> None:
        self.condition = condition
        self.summary = "Asset"


class AssetOrTimeSchedule(AssetTriggeredTimetable):
    """Runs when the asset condition is met *and* on ``timetable``'s schedule, each on its own."""

    def __init__(self, *, timetable: Timetable, assets: Any) -> None:
        if isinstance(assets, BaseAsset):
            condition: BaseAsset = assets
        elif (
            isinstance(assets, Sequence)
            and assets
            and all(isinstance(a, BaseAsset) for a in assets)
        ):
            condition = AssetAll(*assets)
        else:
            raise DagDefinitionError(
                f"AssetOrTimeSchedule assets must be an asset, an asset expression or a list of "
                f"assets, got {assets!r}"
            )
        if not isinstance(timetable, Timetable) or isinstance(
            timetable,
            AssetTriggeredTimetable | NullTimetable | OnceTimetable | ContinuousTimetable,
        ):
            raise DagDefinitionError(
                f"AssetOrTimeSchedule timetable must be a time-based timetable "
                f"(CronTriggerTimetable, DeltaTriggerTimetable, MultipleCronTriggerTimetable, "
                f"EventsTimetable or your own Timetable), got {timetable!r}"
            )
        super().__init__(condition)
        self.timetable = timetable
        self.summary = f"Asset or {timetable.summary or type(timetable).__name__}"


def _field_value(token: str, names: list[str], offset: int) -> int:
    upper = token.upper()
    if upper in names:
        return names.index(upper) + offset
    if token.isdigit():
        return int(token)
    raise ValueError(f"{token!r} is not a number{' or a name' if names else ''}")


def _check_item(item: str, spec: tuple[str, int, int, list[str], int]) -> None:
    name, low, high, names, offset = spec
    if name == "day-of-month" and item in ("L", "LW"):
        return
    if name == "day-of-week" and re.fullmatch(r"[0-7](#[1-5]|L)", item):
        return
    if name == "day-of-month" and re.fullmatch(r"\d{1,2}W", item):
        item = item[:-1]
    match = _ITEM.match(item)
    if match is None:
        raise ValueError(f"{item!r} is not a value, range or step")
    part = match["range"]
    if part == "?" and name not in ("day-of-month", "day-of-week"):
        raise ValueError("'?' is only allowed in day-of-month and day-of-week")
    if match["step"] is not None and int(match["step"]) == 0:
        raise ValueError("a step of 0 never matches")
    if part in ("*", "?"):
        return
    bounds = [_field_value(t, names, offset) for t in part.split("-")]
    for value in bounds:
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}-{high}")
    if len(bounds) == 2 and bounds[0] > bounds[1] and name != "day-of-week":
        raise ValueError(f"range {part!r} goes backwards")


def validate_cron(expression: str, *, original: str | None = None) -> None:
    """Raise :class:`DagDefinitionError` naming the string if it is not a cron expression."""
    shown = original if original is not None else expression
    fields = expression.split()
    hint = (
        "use five fields (minute hour day-of-month month day-of-week) such as '0 6 * * *', "
        f"or one of {', '.join([*CRON_PRESETS, '@once', '@continuous'])}"
    )
    if len(fields) != 5:
        raise DagDefinitionError(
            f"schedule {shown!r} is not a valid cron expression: it has {len(fields)} "
            f"field(s); {hint}"
        )
    for value, spec in zip(fields, _FIELDS, strict=True):
        for item in value.split(","):
            try:
                _check_item(item, spec)
            except ValueError as exc:
                raise DagDefinitionError(
                    f"schedule {shown!r} is not a valid cron expression: {spec[0]} field "
                    f"{value!r}: {exc}; {hint}"
                ) from None


def to_timetable(schedule: Any) -> Timetable:
    """Normalize a ``schedule`` argument (raises :class:`DagDefinitionError` if invalid)."""
    if schedule is None:
        return NullTimetable()
    if isinstance(schedule, Timetable):
        return schedule
    if isinstance(schedule, str):
        if schedule == "@once":
            return OnceTimetable()
        if schedule == "@continuous":
            return ContinuousTimetable()
        if schedule.startswith("@") and schedule not in CRON_PRESETS:
            raise DagDefinitionError(
                f"schedule {schedule!r} is not a known preset; use one of "
                f"{', '.join([*CRON_PRESETS, '@once', '@continuous'])} or a cron expression"
            )
        return CronTriggerTimetable(schedule)
    if isinstance(schedule, timedelta):
        return DeltaTriggerTimetable(schedule)
    if isinstance(schedule, BaseAsset):
        return AssetTriggeredTimetable(schedule)
    if (
        isinstance(schedule, Sequence)
        and schedule
        and all(isinstance(item, BaseAsset) for item in schedule)
    ):
        return AssetTriggeredTimetable(AssetAll(*schedule))
    raise DagDefinitionError(
        f"schedule {schedule!r} ({type(schedule).__name__}) is not understood; use None, a "
        "cron string, a preset such as '@daily', a timedelta, an Asset, an asset expression "
        "(a & b, a | b) or a list of assets"
    )
