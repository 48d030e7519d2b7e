"""The scheduler's metrics (ADR 0024): its loop's duration, and the state of the whole install
read from the DB when metrics are collected — queue depth, pools, runs, callbacks, import
errors, triggers. One scheduler answers for the DB; every scheduler reports the same numbers,
so a dashboard takes the ``max`` across schedulers.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from airlock.core.telemetry import telemetry_installed
from airlock.db import CallbackRequest, DagRun, ParseImportError, Pool, TaskInstance, Trigger
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, Observation
#: Task instance states counted (with zeros) by ``airlock.task_instances``.
UNFINISHED = (
    TIS.SCHEDULED,
    TIS.QUEUED,
    TIS.RUNNING,
    TIS.DEFERRED,
    TIS.UP_FOR_RETRY,
    TIS.UP_FOR_RESCHEDULE,
)
CALLBACK_STATES = ("queued", "running", "retrying", "dead")


@functools.cache
def _meter() -> Meter:
    from opentelemetry import metrics

    return metrics.get_meter("airlock.scheduler")


@functools.cache
def _loop_duration() -> Any:
    return _meter().create_histogram(
        "airlock.scheduler.loop.duration", unit="s", description="One pass of the scheduler loop"
    )


def loop_done(seconds: float) -> None:
    if telemetry_installed():
        _loop_duration().record(seconds)


def observe_the_database(sessions: sessionmaker[Session]) -> None:
    """Register the gauges read from the DB at each collection (telemetry on only)."""
    from opentelemetry.metrics import Observation

    def counts(statement: Any) -> dict[Any, int]:
        with sessions() as session:
            return dict(session.execute(statement).tuples().all())

    def task_instances(options: CallbackOptions) -> Iterable[Observation]:
        found = counts(
            select(TaskInstance.state, func.count())
            .where(TaskInstance.state.in_(UNFINISHED))
            .group_by(TaskInstance.state)
        )
        return [Observation(found.get(s, 0), {"airlock.state": s.value}) for s in UNFINISHED]

    def dag_runs(options: CallbackOptions) -> Iterable[Observation]:
        states = (DagRunState.QUEUED, DagRunState.RUNNING)
        found = counts(
            select(DagRun.state, func.count())
            .where(DagRun.state.in_(states))
            .group_by(DagRun.state)
        )
        return [Observation(found.get(s, 0), {"airlock.state": s.value}) for s in states]

    def pool_slots(options: CallbackOptions) -> Iterable[Observation]:
        with sessions() as session:
            pools = dict(session.execute(select(Pool.name, Pool.slots)).tuples().all())
            used = session.execute(
                select(TaskInstance.pool, TaskInstance.state, func.count())
                .where(TaskInstance.state.in_((TIS.RUNNING, TIS.QUEUED)))
                .group_by(TaskInstance.pool, TaskInstance.state)
            ).all()
        taken = {(pool, state): n for pool, state, n in used}
        observed = []
        for pool, slots in pools.items():
            running, queued = taken.get((pool, TIS.RUNNING), 0), taken.get((pool, TIS.QUEUED), 0)
            for state, value in (
                ("open", slots - running),
                ("running", running),
                ("queued", queued),
            ):
                observed.append(Observation(value, {"airlock.pool": pool, "airlock.state": state}))
        return observed

    def callbacks(options: CallbackOptions) -> Iterable[Observation]:
        found = counts(
            select(CallbackRequest.state, func.count())
            .where(CallbackRequest.state.in_(CALLBACK_STATES))
            .group_by(CallbackRequest.state)
        )
        return [Observation(found.get(s, 0), {"airlock.state": s}) for s in CALLBACK_STATES]

    def import_errors(options: CallbackOptions) -> Iterable[Observation]:
        with sessions() as session:
            count = session.scalar(select(func.count()).select_from(ParseImportError))
        return [Observation(count or 0)]

    def triggers(options: CallbackOptions) -> Iterable[Observation]:
        with sessions() as session:
            count = session.scalar(select(func.count()).select_from(Trigger))
        return [Observation(count or 0)]

    _meter().create_observable_gauge(
        "airlock.task_instances", [task_instances], unit="{task}", description="By state"
    )
    _meter().create_observable_gauge("airlock.dag_runs.active", [dag_runs], unit="{run}")
    _meter().create_observable_gauge(
        "airlock.pool.slots", [pool_slots], unit="{slot}", description="open, running, queued"
    )
    _meter().create_observable_gauge(
        "airlock.callbacks",
        [callbacks],
        unit="{callback}",
        description="By state; dead = dead-lettered",
    )
    _meter().create_observable_gauge("airlock.import_errors", [import_errors], unit="{error}")
    _meter().create_observable_gauge("airlock.triggers", [triggers], unit="{trigger}")
