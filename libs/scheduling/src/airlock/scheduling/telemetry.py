"""What the scheduling library tells OpenTelemetry: one call per event (ADR 0024).

Each function here is called once where its event happens (a run starts or ends, a task's try
ends) and returns at once when telemetry is off, so the hot paths pay a flag check and nothing
else. Metric names live under ``airlock.``; ids (DAG, task) are attributes, bounded by the
cardinality guard of ``[telemetry] max_series_per_metric``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections import Counter
from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from airlock.core.telemetry import RunTrace, telemetry_installed, tracing_on
from airlock.db import CallbackRequest, Trigger
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling.tables import DAG_RUN, TI


@functools.cache
def _instruments() -> SimpleNamespace:
    """The instruments, made on first use: only once telemetry is on is OpenTelemetry imported."""
    from opentelemetry import metrics

    meter = metrics.get_meter("airlock.scheduling")
    return SimpleNamespace(
        tasks_finished=meter.create_counter(
            "airlock.tasks.finished", unit="{task}", description="Task tries ended, by state"
        ),
        task_duration=meter.create_histogram(
            "airlock.task.duration", unit="s", description="How long a task try ran, by state"
        ),
        runs_started=meter.create_counter("airlock.dag_runs.started", unit="{run}"),
        runs_finished=meter.create_counter(
            "airlock.dag_runs.finished", unit="{run}", description="DAG runs ended, by state"
        ),
        run_duration=meter.create_histogram(
            "airlock.dag_run.duration", unit="s", description="From a run's start to its end"
        ),
        schedule_delay=meter.create_histogram(
            "airlock.dag_run.schedule_delay",
            unit="s",
            description="From when a run may start (run_after) to when it started",
        ),
        callback_outcomes=meter.create_counter(
            "airlock.callbacks.outcomes",
            unit="{callback}",
            description="Callback attempts reported, by outcome (success, retrying, dead)",
        ),
        queued_duration=meter.create_histogram(
            "airlock.task.queued.duration",
            unit="s",
            description="From a task's queueing to its hand-out to a worker (hand-off latency)",
        ),
        asset_events=meter.create_counter(
            "airlock.asset_events.received",
            unit="{event}",
            description="Asset events stored, by source kind (api, receiver, watcher, task, "
            "completion)",
        ),
        event_to_run=meter.create_histogram(
            "airlock.asset_event.to_run.duration",
            unit="s",
            description="From the oldest asset event a run consumes to the run's creation",
        ),
    )


def run_trace(session: Session, run: Any) -> RunTrace:
    """The trace of ``run`` (an ORM run or a locked run's row, which lacks the trace parent)."""
    trace_parent = getattr(run, "trace_parent", None)
    if trace_parent is None and not hasattr(run, "trace_parent"):
        trace_parent = session.execute(
            select(DAG_RUN.c.trace_parent).where(DAG_RUN.c.id == run.id)
        ).scalar()
    return RunTrace.of(run.dag_id, run.run_id, trace_parent)


@contextlib.contextmanager
def scheduling_span(session: Session, run: Any) -> Iterator[None]:
    """A span around one scheduling decision about ``run``, in the run's trace."""
    if not tracing_on():
        yield
        return
    with run_trace(session, run).span("schedule"):
        yield


def run_started(run: Any, now: dt.datetime) -> None:
    if not telemetry_installed():
        return
    attributes = {"airlock.dag_id": run.dag_id}
    _instruments().runs_started.add(1, attributes)
    _instruments().schedule_delay.record(
        max(0.0, (now - run.run_after).total_seconds()), attributes
    )


def run_ended(session: Session, run: Any, state: DagRunState, now: dt.datetime) -> None:
    """The run's root span (its whole life) and its metrics."""
    if not telemetry_installed():
        return
    attributes = {"airlock.dag_id": run.dag_id, "airlock.state": state.value}
    _instruments().runs_finished.add(1, attributes)
    if run.start_date is not None:
        _instruments().run_duration.record((now - run.start_date).total_seconds(), attributes)
    if tracing_on():
        run_type = getattr(run, "run_type", None)
        run_trace(session, run).record_root(
            run.start_date or now, now, state.value, str(getattr(run_type, "value", run_type))
        )


def try_ended(session: Session, run: Any, ti: Any, state: TIS, now: dt.datetime) -> None:
    """A task try's API-side span (from its start to its end) and its metrics."""
    if not telemetry_installed():
        return
    attributes = {"airlock.dag_id": ti.dag_id, "airlock.state": state.value}
    _instruments().tasks_finished.add(1, attributes)
    if ti.start_date is not None:
        _instruments().task_duration.record((now - ti.start_date).total_seconds(), attributes)
    if tracing_on():
        trace = run_trace(session, run) if run is not None else RunTrace.of(ti.dag_id, ti.run_id)
        trace.record(
            f"task {ti.task_id}",
            ti.start_date,
            now,
            span_id=trace.try_span_id(ti.task_id, ti.map_index, ti.try_number),
            attributes={
                "airlock.task_id": ti.task_id,
                "airlock.map_index": ti.map_index,
                "airlock.try_number": ti.try_number,
                "airlock.state": state.value,
            },
            error=f"task ended {state.value}" if state is TIS.FAILED else None,
        )


def trigger_fired(connection: Connection, trigger_id: int, now: dt.datetime) -> None:
    """The deferred task's wait for its trigger, as a span of its run (from the deferral)."""
    if not tracing_on():
        return
    row = connection.execute(
        select(
            TI.c.dag_id,
            TI.c.run_id,
            TI.c.task_id,
            TI.c.try_number,
            Trigger.created_at,
            DAG_RUN.c.trace_parent,
        )
        .join(TI, TI.c.id == Trigger.task_instance_id)
        .join(DAG_RUN, (DAG_RUN.c.dag_id == TI.c.dag_id) & (DAG_RUN.c.run_id == TI.c.run_id))
        .where(Trigger.id == trigger_id)
    ).one_or_none()
    if row is None:
        return
    RunTrace.of(row.dag_id, row.run_id, row.trace_parent).record(
        "trigger wait",
        row.created_at,
        now,
        attributes={"airlock.task_id": row.task_id, "airlock.try_number": row.try_number},
    )


def callback_reported(
    connection: Connection, callback_id: int, outcome: str, now: dt.datetime
) -> None:
    """A callback attempt's outcome; with tracing, a span of its run from queueing to now."""
    if not telemetry_installed():
        return
    _instruments().callback_outcomes.add(1, {"airlock.state": outcome})
    if not tracing_on():
        return
    row = connection.execute(
        select(
            CallbackRequest.kind,
            CallbackRequest.dag_id,
            CallbackRequest.run_id,
            CallbackRequest.task_id,
            CallbackRequest.created_at,
            DAG_RUN.c.trace_parent,
        )
        .outerjoin(
            DAG_RUN,
            (DAG_RUN.c.dag_id == CallbackRequest.dag_id)
            & (DAG_RUN.c.run_id == CallbackRequest.run_id),
        )
        .where(CallbackRequest.id == callback_id)
    ).one_or_none()
    if row is None:
        return
    RunTrace.of(row.dag_id, row.run_id, row.trace_parent).record(
        f"callback {row.kind}",
        row.created_at,
        now,
        attributes={"airlock.task_id": row.task_id or "", "airlock.state": outcome},
        error=None if outcome == "success" else f"callback {outcome}",
    )


def task_handed_out(queued_at: dt.datetime | None, queue: str, now: dt.datetime) -> None:
    """Hand-off latency: how long a task handed out now waited in its queue."""
    if queued_at is None or not telemetry_installed():
        return
    _instruments().queued_duration.record(
        (now - queued_at).total_seconds(), {"airlock.queue": queue}
    )


def asset_events_stored(sources: Iterable[str]) -> None:
    """New asset events, by the kind of their ``source`` (``receiver:github`` counts as
    ``receiver``: the names would make a series per receiver, watcher and API user)."""
    if not telemetry_installed():
        return
    for kind, count in Counter(source.partition(":")[0] for source in sources).items():
        _instruments().asset_events.add(count, {"airlock.source": kind})


def asset_run_created(dag_id: str, oldest_event: dt.datetime, now: dt.datetime) -> None:
    """Event → run latency of an asset-triggered run of ``dag_id``."""
    if not telemetry_installed():
        return
    _instruments().event_to_run.record(
        max(0.0, (now - oldest_event).total_seconds()), {"airlock.dag_id": dag_id}
    )
