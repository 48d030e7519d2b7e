"""Test helpers for users' DAGs: an in-memory API and a way to run one task.

    from airlock.sdk.testing import InMemoryComms, run_task, use_comms

    comms = InMemoryComms(variables={"bucket": "test-bucket"})
    with use_comms(comms):
        outcome = run_task(dag.get_task("extract"), logical_date=datetime(2024, 1, 1, tzinfo=UTC))
    assert outcome.state == "success"
    assert comms.xcoms_of("extract") == {"return_value": [1, 2, 3]}

:class:`InMemoryComms` implements :class:`~airlock.sdk.execution_time.comms.Comms` with dicts;
XCom values go through a JSON round trip, as they would through the real API, so a value that
would not survive the trip fails in tests too. A consumer of assets is tested with
``run_task(task, triggering_asset_events=[TriggeringAssetEvent(asset=orders, timestamp=now)])``.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from airlock.models.execution import DagRunInfo
from airlock.models.states import DagRunState, DagRunType
from airlock.sdk.bases.branch import BranchDecision
from airlock.sdk.definitions.abstractoperator import AbstractOperator
from airlock.sdk.definitions.connection import Connection
from airlock.sdk.definitions.mappedoperator import MappedOperator
from airlock.sdk.exceptions import AirlockSkipException, DagRunAlreadyExists, RescheduleRequested
from airlock.sdk.execution_time import comms as _comms
from airlock.sdk.execution_time.comms import Comms, ConnectionResult, StateScope
from airlock.sdk.execution_time.context import (
    RuntimeTaskInstance,
    TriggeringAssetEvent,
    TriggeringAssetEventsAccessor,
    build_context,
    set_current_context,
)
from airlock.sdk.timezone import json_enc_hook

__all__ = [
    "InMemoryComms",
    "TaskOutcome",
    "TriggeringAssetEvent",
    "run_task",
    "use_comms",
]

_XComKey = tuple[str, str, str, str, int]


def _store_of(scope: StateScope) -> tuple[str, str, str, int] | str:
    """A state store's key in :attr:`InMemoryComms.states`."""
    return scope.asset_uri or (scope.dag_id, scope.run_id, scope.task_id, scope.map_index)


class InMemoryComms:
    """Variables, connections, XComs and triggered runs kept in dicts."""

    def __init__(
        self,
        variables: Mapping[str, str] | None = None,
        connections: Mapping[str, Connection | ConnectionResult] | None = None,
    ) -> None:
        self.variables: dict[str, str] = dict(variables or {})
        self.connections: dict[str, ConnectionResult] = {}
        for conn_id, conn in (connections or {}).items():
            self.add_connection(conn_id, conn)
        self.xcoms: dict[_XComKey, Any] = {}
        self.triggered_runs: list[dict[str, Any]] = []
        self.dag_run_states: dict[tuple[str, str], str] = {}
        #: State-store values by (dag_id, run_id, task_id, map_index) or asset URI, then key;
        #: each value with its retention in seconds (None: never expires).
        #: Other DAGs' runs by (dag_id, logical date), and their tasks' states by map index,
        #: as ``ExternalTaskSensor`` reads them (``dag_run_states`` holds the runs' states).
        self.runs_by_logical_date: dict[tuple[str, datetime], str] = {}
        self.task_states: dict[tuple[str, str, str], list[str | None]] = {}
        #: Asset events by URI, oldest first, as ``inlet_events`` reads them.
        self.asset_event_log: dict[str, list[Any]] = {}
        self.states: dict[tuple[str, str, str, int] | str, dict[str, tuple[Any, float | None]]] = {}

    def add_connection(self, conn_id: str, conn: Connection | ConnectionResult) -> None:
        if isinstance(conn, Connection):
            conn = ConnectionResult(**{**vars(conn), "conn_id": conn_id})
        self.connections[conn_id] = conn

    # --- Comms --------------------------------------------------------------------------------
    def get_variable(self, key: str) -> str | None:
        return self.variables.get(key)

    def set_variable(self, key: str, value: str, description: str | None = None) -> None:
        self.variables[key] = value

    def delete_variable(self, key: str) -> None:
        self.variables.pop(key, None)

    def get_connection(self, conn_id: str) -> ConnectionResult | None:
        return self.connections.get(conn_id)

    def xcom_push(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, value: Any, map_index: int = -1
    ) -> None:
        try:
            stored = msgspec.json.decode(msgspec.json.encode(value, enc_hook=json_enc_hook))
        except (TypeError, msgspec.EncodeError) as exc:
            raise TypeError(
                f"XCom {key!r} of task {task_id!r} is not JSON-serializable: {exc}"
            ) from None
        self.xcoms[(dag_id, run_id, task_id, key, map_index)] = stored

    def xcom_pull(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, map_index: int | None = None
    ) -> Any:
        if map_index is not None:
            return self.xcoms.get((dag_id, run_id, task_id, key, map_index))
        if (dag_id, run_id, task_id, key, -1) in self.xcoms:
            return self.xcoms[(dag_id, run_id, task_id, key, -1)]
        mapped = sorted(
            (index, value)
            for (d, r, t, k, index), value in self.xcoms.items()
            if (d, r, t, k) == (dag_id, run_id, task_id, key) and index >= 0
        )
        return [value for _, value in mapped] if mapped else None

    def trigger_dag_run(
        self,
        *,
        dag_id: str,
        run_id: str,
        conf: dict[str, Any] | None = None,
        logical_date: datetime | None = None,
        reset_dag_run: bool = False,
    ) -> str:
        if (dag_id, run_id) in self.dag_run_states and not reset_dag_run:
            raise DagRunAlreadyExists(f"run {run_id!r} of DAG {dag_id!r} already exists")
        self.triggered_runs.append(
            {"dag_id": dag_id, "run_id": run_id, "conf": conf, "logical_date": logical_date}
        )
        self.dag_run_states[(dag_id, run_id)] = "queued"
        return run_id

    def get_dag_run_state(self, *, dag_id: str, run_id: str) -> str | None:
        return self.dag_run_states.get((dag_id, run_id))

    def get_state(self, key: str, scope: StateScope) -> tuple[bool, Any]:
        store = self.states.get(_store_of(scope), {})
        if key not in store:
            return False, None
        return True, copy.deepcopy(store[key][0])

    def set_state(self, key: str, value: Any, retention_s: float | None, scope: StateScope) -> None:
        self.states.setdefault(_store_of(scope), {})[key] = (copy.deepcopy(value), retention_s)

    def delete_state(self, key: str | None, scope: StateScope) -> None:
        store = self.states.get(_store_of(scope), {})
        if key is None:
            store.clear()
        else:
            store.pop(key, None)

    def find_dag_run(self, *, dag_id: str, logical_date: datetime) -> tuple[str, str] | None:
        run_id = self.runs_by_logical_date.get((dag_id, logical_date))
        if run_id is None:
            return None
        return run_id, self.dag_run_states.get((dag_id, run_id), "queued")

    def get_task_states(self, *, dag_id: str, run_id: str, task_id: str) -> list[str | None]:
        return list(self.task_states.get((dag_id, run_id, task_id), []))

    def asset_events(self, *, uri: str, limit: int = 100) -> list[Any]:
        return list(self.asset_event_log.get(uri, [])[-limit:])

    def record_outlet_events(
        self, task: AbstractOperator, ti: RuntimeTaskInstance, context: Any
    ) -> None:
        """Log the events a task that just succeeded emits, as the API would store them (what
        a later task's ``inlet_events`` reads)."""
        from airlock.models.execution import TriggeringAssetEvent as EventPayload
        from airlock.sdk.execution_time.task_runner import asset_events

        now = datetime.now(UTC)
        for event in asset_events(task, context):
            self.asset_event_log.setdefault(event.uri, []).append(
                EventPayload(
                    uri=event.uri,
                    name=event.name,
                    extra=dict(event.extra),
                    timestamp=now,
                    source_dag_id=ti.dag_id,
                    source_task_id=ti.task_id,
                    source_run_id=ti.run_id,
                    source_map_index=ti.map_index,
                )
            )

    # --- inspection ---------------------------------------------------------------------------
    def xcoms_of(self, task_id: str, *, map_index: int = -1) -> dict[str, Any]:
        """Every XCom ``task_id`` pushed (any DAG, any run), by key."""
        return {
            key: value
            for (_, _, t, key, index), value in self.xcoms.items()
            if t == task_id and index == map_index
        }


@contextlib.contextmanager
def use_comms(comms: Comms) -> Iterator[Comms]:
    """Install ``comms`` while the block runs (restoring the previous one after)."""
    previous = _comms.set_comms(comms)
    try:
        yield comms
    finally:
        _comms.set_comms(previous)


@dataclass
class TaskOutcome:
    """How :func:`run_task` ended: ``success``, ``skipped`` or ``up_for_reschedule``."""

    state: str
    return_value: Any = None
    decision: BranchDecision | None = None
    reschedule_date: datetime | None = None
    skip_reason: str | None = None


def run_task(
    task: AbstractOperator,
    *,
    logical_date: datetime | None = None,
    run_id: str | None = None,
    conf: dict[str, Any] | None = None,
    map_index: int = -1,
    try_number: int = 1,
    data_interval: tuple[datetime, datetime] | None = None,
    comms: Comms | None = None,
    triggering_asset_events: Iterable[TriggeringAssetEvent] = (),
) -> TaskOutcome:
    """Render and execute one task as the runtime would, pushing its XComs.

    Failures raise the task's exception. Uses ``comms`` if given, else the installed comms
    object, else a fresh :class:`InMemoryComms`.
    """
    active = comms or _comms._comms or InMemoryComms()
    with use_comms(active):
        dag_id = task.dag.dag_id if task.dag is not None else task.dag_id
        run = DagRunInfo(
            dag_id=dag_id,
            run_id=run_id or f"test__{(logical_date or datetime(1970, 1, 1)).isoformat()}",
            logical_date=logical_date,
            data_interval_start=data_interval[0] if data_interval else logical_date,
            data_interval_end=data_interval[1] if data_interval else logical_date,
            run_type=DagRunType.MANUAL,
            state=DagRunState.RUNNING,
            conf=dict(conf or {}),
        )
        events = TriggeringAssetEventsAccessor(triggering_asset_events)
        if isinstance(task, MappedOperator):
            probe = RuntimeTaskInstance(task=task, dag_id=dag_id, run_id=run.run_id)
            expanded = task.expand_kwargs_at(build_context(task, probe, run, events), map_index)
            runnable: Any = task.unmap(expanded)
        else:
            runnable = copy.copy(task)
        ti = RuntimeTaskInstance(
            task=runnable,
            dag_id=dag_id,
            run_id=run.run_id,
            map_index=map_index,
            try_number=try_number,
            logical_date=logical_date,
        )
        context = build_context(runnable, ti, run, events)
        with set_current_context(context):
            try:
                runnable.render_template_fields(context)
                runnable.pre_execute(context)
                result = runnable.execute(context)
                runnable.post_execute(context, result)
            except AirlockSkipException as exc:
                return TaskOutcome(state="skipped", skip_reason=str(exc))
            except RescheduleRequested as exc:
                return TaskOutcome(state="up_for_reschedule", reschedule_date=exc.reschedule_date)
        decision = result if isinstance(result, BranchDecision) else None
        value = decision.return_value if decision is not None else result
        if runnable.do_xcom_push and value is not None:
            ti.xcom_push("return_value", value)
        if isinstance(active, InMemoryComms):
            active.record_outlet_events(runnable, ti, context)
        return TaskOutcome(state="success", return_value=value, decision=decision)
