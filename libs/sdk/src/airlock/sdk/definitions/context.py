"""The task context: what ``execute(context)``, templates and ``get_current_context()`` see."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from airlock.sdk.definitions.abstractoperator import AbstractOperator
    from airlock.sdk.definitions.dag import DAG
    from airlock.sdk.definitions.param import ParamsDict
    from airlock.sdk.execution_time.context import DagRunInfo, RuntimeTaskInstance


class Context(TypedDict, total=False):
    """Keys of a task's context (Airflow's names). Date keys are absent when a run has no
    logical date."""

    dag: DAG
    task: AbstractOperator
    ti: RuntimeTaskInstance
    task_instance: RuntimeTaskInstance
    run_id: str
    dag_run: DagRunInfo
    conf: Mapping[str, Any]
    params: ParamsDict | dict[str, Any]
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
    triggering_asset_events: Mapping[str, list[Any]]
    templates_dict: dict[str, Any] | None


def get_current_context() -> Context:
    """The context of the task running in this process (call it from inside task code)."""
    from airlock.sdk.execution_time.context import current_context

    return current_context()
