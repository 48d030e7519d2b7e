"""Sensors that wait until a moment: ``DateTimeSensor`` (a templated target time) and
``TimeDeltaSensor`` (a delay after the run's data interval ends, or its logical date).

With ``deferrable=True`` (always, for the ``…Async`` classes) the wait runs in the triggerer and
the worker slot is free meanwhile; the task resumes in ``execute_complete``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airlock.sdk.bases.sensor import BaseSensorOperator
from airlock.sdk.triggers.temporal import DateTimeTrigger


def _aware(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class DateTimeSensor(BaseSensorOperator):
    template_fields = ("target_time",)

    def __init__(
        self, *, target_time: datetime | str, deferrable: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.target_time = (
            target_time.isoformat() if isinstance(target_time, datetime) else target_time
        )
        self.deferrable = deferrable

    def poke(self, context: Any) -> bool:
        return datetime.now(UTC) >= _aware(self.target_time)

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        moment = _aware(self.target_time)
        if datetime.now(UTC) >= moment:
            return None
        self.defer(
            trigger=DateTimeTrigger(moment), method_name="execute_complete", timeout=self.timeout
        )

    def execute_complete(self, context: Any, event: Any = None) -> None:
        """The moment came (the trigger's event)."""


class DateTimeSensorAsync(DateTimeSensor):
    def __init__(self, *, target_time: datetime | str, **kwargs: Any) -> None:
        kwargs.pop("deferrable", None)
        super().__init__(target_time=target_time, deferrable=True, **kwargs)


class TimeDeltaSensor(BaseSensorOperator):
    def __init__(self, *, delta: timedelta, deferrable: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = delta
        self.deferrable = deferrable

    def _target(self, context: Any) -> datetime:
        run = context.get("dag_run")
        base = (
            getattr(run, "data_interval_end", None)
            or getattr(run, "logical_date", None)
            or getattr(run, "run_after", None)
            or datetime.now(UTC)
        )
        return _aware(base) + self.delta

    def poke(self, context: Any) -> bool:
        return datetime.now(UTC) >= self._target(context)

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        moment = self._target(context)
        if datetime.now(UTC) >= moment:
            return None
        self.defer(
            trigger=DateTimeTrigger(moment), method_name="execute_complete", timeout=self.timeout
        )

    def execute_complete(self, context: Any, event: Any = None) -> None:
        """The moment came (the trigger's event)."""


class TimeDeltaSensorAsync(TimeDeltaSensor):
    def __init__(self, *, delta: timedelta, **kwargs: Any) -> None:
        kwargs.pop("deferrable", None)
        super().__init__(delta=delta, deferrable=True, **kwargs)
