"""TimeDeltaSensor: wait until a time after the run's data interval ends.

``TimeDeltaSensor(delta=timedelta(hours=1))`` succeeds once ``data_interval_end + delta`` has
passed (for a run without a data interval: its ``run_after``, else its start), as in Airflow.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airlock.sdk.bases.sensor import BaseSensorOperator
from airlock.sdk.exceptions import DagDefinitionError
from airlock.sdk.timezone import coerce_datetime, utcnow


class TimeDeltaSensor(BaseSensorOperator):
    """Succeeds once ``delta`` has passed since the run's data interval ended."""

    def __init__(self, *, delta: dt.timedelta, **kwargs: Any) -> None:
        super().__init__(**kwargs)
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
