"""DateTimeSensor: wait until a moment, given as any datetime flavour or a templated string.

``target_time`` is templated, so ``"{{ data_interval_end.add(hours=2) }}"`` works with the
context's pendulum dates; a string without an offset is in UTC. With ``deferrable=True`` (always,
for ``DateTimeSensorAsync``) the wait runs in the triggerer and the worker slot is free meanwhile;
the task resumes in ``execute_complete``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airlock.sdk.bases.sensor import BaseSensorOperator
from airlock.sdk.exceptions import DagDefinitionError
from airlock.sdk.timezone import coerce_datetime, parse, utcnow
from airlock.sdk.triggers.temporal import DateTimeTrigger


class DateTimeSensor(BaseSensorOperator):
    """Succeeds once the current time is at or past ``target_time``."""

    template_fields = ("target_time",)

    def __init__(
        self, *, target_time: str | dt.datetime, deferrable: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable
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

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        moment = self.target()
        if utcnow() >= moment:
            return None
        self.defer(
            trigger=DateTimeTrigger(moment), method_name="execute_complete", timeout=self.timeout
        )

    def execute_complete(self, context: Any, event: Any = None) -> None:
        """The moment came (the trigger's event)."""


class DateTimeSensorAsync(DateTimeSensor):
    """``DateTimeSensor`` that always defers to the triggerer."""

    def __init__(self, *, target_time: str | dt.datetime, **kwargs: Any) -> None:
        kwargs.pop("deferrable", None)
        super().__init__(target_time=target_time, deferrable=True, **kwargs)
