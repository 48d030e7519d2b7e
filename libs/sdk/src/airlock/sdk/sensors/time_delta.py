"""TimeDeltaSensor: wait until a time after the run's data interval ends.

``TimeDeltaSensor(delta=timedelta(hours=1))`` succeeds once ``data_interval_end + delta`` has
passed (for a run without a data interval: its ``run_after``, else its start), as in Airflow.
With ``deferrable=True`` (always, for ``TimeDeltaSensorAsync``) the wait runs in the triggerer and
the worker slot is free meanwhile; the task resumes in ``execute_complete``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airlock.sdk.bases.sensor import BaseSensorOperator
from airlock.sdk.exceptions import DagDefinitionError
from airlock.sdk.timezone import coerce_datetime, utcnow
from airlock.sdk.triggers.temporal import DateTimeTrigger


class TimeDeltaSensor(BaseSensorOperator):
    """Succeeds once ``delta`` has passed since the run's data interval ended."""

    def __init__(self, *, delta: dt.timedelta, deferrable: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable
        if not isinstance(delta, dt.timedelta):
            raise DagDefinitionError(
                f"delta must be a timedelta, got {type(delta).__name__} {delta!r}",
                dag_id=self.dag.dag_id if self.dag else None,
                task_id=self.task_id,
            )
        self.delta = delta

    def target(self, context: Any) -> dt.datetime:
        dag_run = context["dag_run"]
        base = (
            context.get("data_interval_end") or dag_run.run_after or dag_run.start_date or utcnow()
        )
        return coerce_datetime(base) + self.delta

    def poke(self, context: Any) -> bool:
        return bool(utcnow() >= self.target(context))

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        moment = self.target(context)
        if utcnow() >= moment:
            return None
        self.defer(
            trigger=DateTimeTrigger(moment), method_name="execute_complete", timeout=self.timeout
        )

    def execute_complete(self, context: Any, event: Any = None) -> None:
        """The moment came (the trigger's event)."""


class TimeDeltaSensorAsync(TimeDeltaSensor):
    """``TimeDeltaSensor`` that always defers to the triggerer."""

    def __init__(self, *, delta: dt.timedelta, **kwargs: Any) -> None:
        kwargs.pop("deferrable", None)
        super().__init__(delta=delta, deferrable=True, **kwargs)
