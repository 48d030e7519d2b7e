"""Airflow's asset partitions (``CronPartitionTimetable``, ``PartitionedAssetTimetable``,
``PartitionedAtRuntime`` and the partition-key mappers): named here so a ported DAG file imports
and its other DAGs load, but not supported — a DAG scheduled with one of them fails to parse,
naming it.

Why not: partitions need a ``partition_key`` on runs and asset events, and a consumer that waits
for the matching keys of every upstream asset; Airlock's runs and events have no such key yet.
"""

from __future__ import annotations

from typing import Any

from airlock.sdk.definitions.timetables import Timetable

_WHY = (
    "asset partitions are not supported by Airlock (runs and asset events carry no "
    "partition_key); schedule the DAG with a cron expression or on the asset itself and derive "
    "the partition from the run's data interval"
)


class _PartitionTimetable(Timetable):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        self.summary = type(self).__name__

    @property
    def unsupported(self) -> str:
        return f"schedule={type(self).__name__}(...): {_WHY}"


class CronPartitionTimetable(_PartitionTimetable):
    pass


class PartitionedAssetTimetable(_PartitionTimetable):
    pass


class PartitionedAtRuntime(_PartitionTimetable):
    pass


class _PartitionMapper:
    """Inert: only a partitioned timetable uses a mapper, and that fails the DAG by name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


class IdentityMapper(_PartitionMapper):
    pass


class ToHourlyMapper(_PartitionMapper):
    pass


class ToDailyMapper(_PartitionMapper):
    pass


class ToWeeklyMapper(_PartitionMapper):
    pass


class ToMonthlyMapper(_PartitionMapper):
    pass


class ToQuarterlyMapper(_PartitionMapper):
    pass


class ToYearlyMapper(_PartitionMapper):
    pass


class ProductMapper(_PartitionMapper):
    pass


class AllowedKeyMapper(_PartitionMapper):
    pass
