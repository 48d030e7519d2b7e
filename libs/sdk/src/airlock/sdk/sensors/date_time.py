"""DateTimeSensor: wait until a moment, given as any datetime flavour or a templated string.

``target_time`` is templated, so ``"{{ data_interval_end.add(hours=2) }}"`` works with the
context's pendulum dates; a string without an offset is in UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airlock.sdk.bases.sensor import BaseSensorOperator
from airlock.sdk.exceptions import DagDefinitionError
from airlock.sdk.timezone import coerce_datetime, parse, utcnow


class DateTimeSensor(BaseSensorOperator):
    """Succeeds once the current time is at or past ``target_time``."""

    template_fields = ("target_time",)

    def __init__(self, *, target_time: str | dt.datetime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(target_time, dt.datetime):
            self.target_time: str | dt.datetime = coerce_datetime(target_time)
        elif isinstance(target_time, str):
            self.target_time = target_time
        else:
            raise DagDefinitionError(
                f"target_time must be a datetime or a string, got "
                f"{type(target_time).__name__} {target_time!r}",
                dag_id=self.dag.dag_id if self.dag else None,
                task_id=self.task_id,
            )

    def target(self) -> dt.datetime:
        if isinstance(self.target_time, dt.datetime):
            return coerce_datetime(self.target_time)
        try:
            return parse(str(self.target_time))
        except ValueError as exc:
            raise ValueError(
                f"target_time {self.target_time!r} is not an ISO 8601 date-time: {exc}"
            ) from None

    def poke(self, context: Any) -> bool:
        return bool(utcnow() >= self.target())
