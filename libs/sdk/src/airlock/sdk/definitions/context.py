"""The task context: what ``execute(context)``, templates and ``get_current_context()`` see."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

if TYPE_CHECKING:
    from airlock.models.execution import DagRunInfo
    from airlock.sdk.definitions.abstractoperator import AbstractOperator
    from airlock.sdk.definitions.dag import DAG
    from airlock.sdk.execution_time.context import (
        InletEventsAccessors,
        OutletEventAccessors,
        RuntimeTaskInstance,
        TriggeringAssetEventsAccessor,
    )
    from airlock.sdk.execution_time.state_store import AssetStateStores, TaskStateStore


class Context(TypedDict, total=False):
    """Keys of a task's context (Airflow's names). Date keys are absent when a run has no
    logical date. ``conf`` is the run's conf (the same as ``dag_run.conf``): unlike Airflow,
    Airlock exposes no configuration object to task code."""

    dag: DAG
    task: AbstractOperator
    ti: RuntimeTaskInstance
    task_instance: RuntimeTaskInstance
    run_id: str
    dag_run: DagRunInfo
    conf: Mapping[str, Any]
    params: dict[str, Any]
    logical_date: datetime
    ds: str
    ds_nodash: str
    ts: str
    ts_nodash: str
    ts_nodash_with_tz: str
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    task_instance_key_str: str
    map_index_template: str | None
    inlets: list[Any]
    outlets: list[Any]
    var: Any
    conn: Any
    macros: Any
    triggering_asset_events: TriggeringAssetEventsAccessor
    outlet_events: OutletEventAccessors
    templates_dict: dict[str, Any] | None
    task_state_store: TaskStateStore
    inlet_events: InletEventsAccessors
    asset_state_store: AssetStateStores


class ParsingContext(NamedTuple):
    """Which DAG and task the current parse is for (both ``None`` for a full parse).

    A worker that re-parses a DAG file to run one task may set them, so that files generating
    many DAGs can build only the one needed.
    """

    dag_id: str | None
    task_id: str | None


_parsing_context = ParsingContext(None, None)


def get_parsing_context() -> ParsingContext:
    return _parsing_context


def set_parsing_context(dag_id: str | None, task_id: str | None) -> None:
    global _parsing_context  # noqa: PLW0603 - one parse per process
    _parsing_context = ParsingContext(dag_id, task_id)


def get_current_context() -> Context:
    """The context of the task running in this process (call it from inside task code)."""
    from airlock.sdk.execution_time.context import current_context

    return current_context()
