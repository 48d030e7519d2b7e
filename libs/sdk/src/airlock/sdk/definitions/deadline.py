"""Deadline alerts (Airflow 3.1's names): ``DAG(deadline=DeadlineAlert(...))`` runs a callback
when a run has not ended by a moment computed from the run.

The moment is ``reference + interval``, where the reference is when the run was queued
(``DeadlineReference.DAGRUN_QUEUED_AT``), its logical date (``DAGRUN_LOGICAL_DATE``), a fixed
datetime (``FIXED_DATETIME(dt)``), or when it was queued plus the average duration of the DAG's
last successful runs (``AVERAGE_RUNTIME(max_runs=10, min_runs=None)``; no deadline until
``min_runs``, by default ``max_runs``, runs have succeeded). The control plane records the
deadline when the run is created, claims a missed one once (however many schedulers run), queues
its callback for the callback processor, and cancels it when the run ends first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airlock.sdk.exceptions import DagDefinitionError


@dataclass(frozen=True)
class _Reference:
    kind: str
    fixed_at: datetime | None = None
    max_runs: int = 10
    min_runs: int | None = None


class DeadlineReference:
    """What a deadline's interval counts from."""

    DAGRUN_QUEUED_AT = _Reference("dagrun_queued_at")
    DAGRUN_LOGICAL_DATE = _Reference("dagrun_logical_date")

    @staticmethod
    def FIXED_DATETIME(moment: datetime) -> _Reference:
        if not isinstance(moment, datetime):
            raise DagDefinitionError(f"FIXED_DATETIME needs a datetime, got {moment!r}")
        return _Reference(
            "fixed_datetime", fixed_at=moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        )

    @staticmethod
    def AVERAGE_RUNTIME(max_runs: int = 10, min_runs: int | None = None) -> _Reference:
        if max_runs < 1 or (min_runs is not None and not 1 <= min_runs <= max_runs):
            raise DagDefinitionError(
                f"AVERAGE_RUNTIME needs 1 <= min_runs <= max_runs, got max_runs={max_runs}, "
                f"min_runs={min_runs}"
            )
        return _Reference("average_runtime", max_runs=max_runs, min_runs=min_runs)


class DeadlineAlert:
    """Call ``callback`` (a callable taking the context, or a list of them) when a run has not
    ended by ``reference + interval``."""

    def __init__(
        self,
        *,
        reference: _Reference,
        interval: timedelta,
        callback: Callable[..., Any] | list[Any],
    ) -> None:
        if not isinstance(reference, _Reference):
            raise DagDefinitionError(
                f"reference must be one of DeadlineReference's, got {reference!r}"
            )
        if not isinstance(interval, timedelta):
            raise DagDefinitionError(f"interval must be a timedelta, got {interval!r}")
        callbacks = callback if isinstance(callback, list) else [callback]
        if not callbacks or not all(callable(c) for c in callbacks):
            raise DagDefinitionError(
                f"callback must be a callable or a list of them, got {callback!r}"
            )
        self.reference = reference
        self.interval = interval
        self.callback = callbacks


def deadline_alerts(value: Any, dag_id: str) -> list[DeadlineAlert]:
    alerts = [] if value is None else value if isinstance(value, list | tuple) else [value]
    for alert in alerts:
        if not isinstance(alert, DeadlineAlert):
            raise DagDefinitionError(
                f"deadline must be a DeadlineAlert or a list of them, got {alert!r}", dag_id=dag_id
            )
    return list(alerts)


__all__ = ["DeadlineAlert", "DeadlineReference"]
