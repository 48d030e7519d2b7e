"""Airlock Task SDK: the authoring API.

An Airflow 3 DAG file written against ``airflow.sdk`` runs on Airlock after changing its imports
to ``airlock.sdk`` (the standard operators, which Airflow keeps in a provider package, are here
too). Layout, after Airflow's task SDK:

- ``definitions/`` — what users write: ``DAG``, operators, ``@task``, task groups, assets,
  params, templating;
- ``operators/`` and ``bases/`` — the standard operators, sensors and trigger base classes;
- ``execution_time/`` — how running task code reaches the API (a pluggable comms object) and
  its context;
- ``serialization/`` — DAG → ``airlock.models.dag.SerializedDag``;
- ``testing`` — an in-memory API and ``run_task`` for users' own tests.

Names are imported when first used (PEP 562): a process that only talks to the APIs
(``airlock.sdk.api``, as the worker's supervisor and the DAG processor do) does not load the
authoring API. :func:`preload` imports them all, for processes that fork or parse many files.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airlock.models.dag import TriggerRule, WeightRule
    from airlock.sdk.bases.branch import BranchDecision
    from airlock.sdk.bases.notifier import BaseNotifier
    from airlock.sdk.bases.sensor import BaseSensorOperator, PokeReturnValue
    from airlock.sdk.bases.trigger import (
        BaseEventTrigger,
        BaseTrigger,
        TaskFailedEvent,
        TaskSuccessEvent,
        TriggerEvent,
    )
    from airlock.sdk.definitions import macros
    from airlock.sdk.definitions.asset import (
        Asset,
        AssetAccessControl,
        AssetAlias,
        AssetAll,
        AssetAny,
        AssetWatcher,
        Metadata,
    )
    from airlock.sdk.definitions.asset_decorator import asset
    from airlock.sdk.definitions.asset_runs import (
        DagCompleted,
        RunAfterQuiet,
        RunAllQueued,
        RunPerBatch,
        RunPerEvent,
    )
    from airlock.sdk.definitions.baseoperator import (
        BaseOperator,
        chain,
        chain_linear,
        cross_downstream,
    )
    from airlock.sdk.definitions.connection import Connection
    from airlock.sdk.definitions.context import Context, get_current_context, get_parsing_context
    from airlock.sdk.definitions.dag import DAG, dag
    from airlock.sdk.definitions.deadline import DeadlineAlert, DeadlineReference
    from airlock.sdk.definitions.decorators import setup, task, task_group, teardown
    from airlock.sdk.definitions.edges import EdgeModifier, Label
    from airlock.sdk.definitions.mappedoperator import MappedOperator
    from airlock.sdk.definitions.param import Param, ParamsDict
    from airlock.sdk.definitions.partitions import (
        AllowedKeyMapper,
        CronPartitionTimetable,
        IdentityMapper,
        PartitionedAssetTimetable,
        PartitionedAtRuntime,
        ProductMapper,
        ToDailyMapper,
        ToHourlyMapper,
        ToMonthlyMapper,
        ToQuarterlyMapper,
        ToWeeklyMapper,
        ToYearlyMapper,
    )
    from airlock.sdk.definitions.priority_strategy import PriorityWeightStrategy
    from airlock.sdk.definitions.python_timetables import (
        EventsTimetable,
        MultipleCronTriggerTimetable,
    )
    from airlock.sdk.definitions.retry_policy import (
        ExceptionRetryPolicy,
        RetryAction,
        RetryDecision,
        RetryPolicy,
        RetryRule,
    )
    from airlock.sdk.definitions.taskgroup import TaskGroup
    from airlock.sdk.definitions.templater import literal
    from airlock.sdk.definitions.timetables import (
        AssetOrTimeSchedule,
        CronTriggerTimetable,
        DeltaTriggerTimetable,
    )
    from airlock.sdk.definitions.variable import Variable
    from airlock.sdk.definitions.xcom_arg import XComArg
    from airlock.sdk.exceptions import (
        AirlockSdkError,
        DagDefinitionError,
        ParamValidationError,
        RescheduleRequested,
        TaskDeferred,
    )
    from airlock.sdk.execution_time.state_store import (
        NEVER_EXPIRE,
        AssetStateStore,
        TaskStateStore,
    )
    from airlock.sdk.io import ObjectStoragePath
    from airlock.sdk.operators.bash import BashOperator
    from airlock.sdk.operators.empty import EmptyOperator
    from airlock.sdk.operators.python import (
        BranchPythonOperator,
        PythonOperator,
        ShortCircuitOperator,
    )
    from airlock.sdk.operators.trigger_dagrun import TriggerDagRunOperator
    from airlock.sdk.sensors import (
        DateTimeSensor,
        DateTimeSensorAsync,
        FileSensor,
        TimeDeltaSensor,
        TimeDeltaSensorAsync,
    )
    from airlock.sdk.triggers import DateTimeTrigger, FileTrigger, TimeDeltaTrigger

#: Each public name and the module it lives in.
_EXPORTS: dict[str, str] = {
    "RunPerEvent": "airlock.sdk.definitions.asset_runs",
    "RunPerBatch": "airlock.sdk.definitions.asset_runs",
    "RunAllQueued": "airlock.sdk.definitions.asset_runs",
    "RunAfterQuiet": "airlock.sdk.definitions.asset_runs",
    "DagCompleted": "airlock.sdk.definitions.asset_runs",
    "AirlockSdkError": "airlock.sdk.exceptions",
    "Asset": "airlock.sdk.definitions.asset",
    "AssetAccessControl": "airlock.sdk.definitions.asset",
    "AssetStateStore": "airlock.sdk.execution_time.state_store",
    "AssetAlias": "airlock.sdk.definitions.asset",
    "AssetAll": "airlock.sdk.definitions.asset",
    "AssetAny": "airlock.sdk.definitions.asset",
    "AssetWatcher": "airlock.sdk.definitions.asset",
    "BaseEventTrigger": "airlock.sdk.bases.trigger",
    "BaseNotifier": "airlock.sdk.bases.notifier",
    "BaseOperator": "airlock.sdk.definitions.baseoperator",
    "BaseSensorOperator": "airlock.sdk.bases.sensor",
    "BaseTrigger": "airlock.sdk.bases.trigger",
    "BashOperator": "airlock.sdk.operators.bash",
    "BranchDecision": "airlock.sdk.bases.branch",
    "BranchPythonOperator": "airlock.sdk.operators.python",
    "Connection": "airlock.sdk.definitions.connection",
    "Context": "airlock.sdk.definitions.context",
    "CronTriggerTimetable": "airlock.sdk.definitions.timetables",
    "DAG": "airlock.sdk.definitions.dag",
    "DeadlineAlert": "airlock.sdk.definitions.deadline",
    "DeadlineReference": "airlock.sdk.definitions.deadline",
    "DagDefinitionError": "airlock.sdk.exceptions",
    "DateTimeSensor": "airlock.sdk.sensors",
    "DateTimeSensorAsync": "airlock.sdk.sensors",
    "DateTimeTrigger": "airlock.sdk.triggers",
    "DeltaTriggerTimetable": "airlock.sdk.definitions.timetables",
    "AssetOrTimeSchedule": "airlock.sdk.definitions.timetables",
    "EventsTimetable": "airlock.sdk.definitions.python_timetables",
    "MultipleCronTriggerTimetable": "airlock.sdk.definitions.python_timetables",
    "EdgeModifier": "airlock.sdk.definitions.edges",
    "EmptyOperator": "airlock.sdk.operators.empty",
    "FileSensor": "airlock.sdk.sensors",
    "FileTrigger": "airlock.sdk.triggers",
    "Label": "airlock.sdk.definitions.edges",
    "MappedOperator": "airlock.sdk.definitions.mappedoperator",
    "NEVER_EXPIRE": "airlock.sdk.execution_time.state_store",
    "Metadata": "airlock.sdk.definitions.asset",
    "ExceptionRetryPolicy": "airlock.sdk.definitions.retry_policy",
    "RetryAction": "airlock.sdk.definitions.retry_policy",
    "RetryDecision": "airlock.sdk.definitions.retry_policy",
    "RetryPolicy": "airlock.sdk.definitions.retry_policy",
    "RetryRule": "airlock.sdk.definitions.retry_policy",
    "PriorityWeightStrategy": "airlock.sdk.definitions.priority_strategy",
    "ObjectStoragePath": "airlock.sdk.io",
    "CronPartitionTimetable": "airlock.sdk.definitions.partitions",
    "PartitionedAssetTimetable": "airlock.sdk.definitions.partitions",
    "PartitionedAtRuntime": "airlock.sdk.definitions.partitions",
    "IdentityMapper": "airlock.sdk.definitions.partitions",
    "ToHourlyMapper": "airlock.sdk.definitions.partitions",
    "ToDailyMapper": "airlock.sdk.definitions.partitions",
    "ToWeeklyMapper": "airlock.sdk.definitions.partitions",
    "ToMonthlyMapper": "airlock.sdk.definitions.partitions",
    "ToQuarterlyMapper": "airlock.sdk.definitions.partitions",
    "ToYearlyMapper": "airlock.sdk.definitions.partitions",
    "ProductMapper": "airlock.sdk.definitions.partitions",
    "AllowedKeyMapper": "airlock.sdk.definitions.partitions",
    "Param": "airlock.sdk.definitions.param",
    "ParamValidationError": "airlock.sdk.exceptions",
    "ParamsDict": "airlock.sdk.definitions.param",
    "PokeReturnValue": "airlock.sdk.bases.sensor",
    "PythonOperator": "airlock.sdk.operators.python",
    "RescheduleRequested": "airlock.sdk.exceptions",
    "ShortCircuitOperator": "airlock.sdk.operators.python",
    "TaskDeferred": "airlock.sdk.exceptions",
    "TaskFailedEvent": "airlock.sdk.bases.trigger",
    "TaskGroup": "airlock.sdk.definitions.taskgroup",
    "TaskStateStore": "airlock.sdk.execution_time.state_store",
    "TaskSuccessEvent": "airlock.sdk.bases.trigger",
    "TimeDeltaSensor": "airlock.sdk.sensors",
    "TimeDeltaSensorAsync": "airlock.sdk.sensors",
    "TimeDeltaTrigger": "airlock.sdk.triggers",
    "TriggerDagRunOperator": "airlock.sdk.operators.trigger_dagrun",
    "TriggerEvent": "airlock.sdk.bases.trigger",
    "TriggerRule": "airlock.models.dag",
    "Variable": "airlock.sdk.definitions.variable",
    "WeightRule": "airlock.models.dag",
    "XComArg": "airlock.sdk.definitions.xcom_arg",
    "asset": "airlock.sdk.definitions.asset_decorator",
    "chain": "airlock.sdk.definitions.baseoperator",
    "chain_linear": "airlock.sdk.definitions.baseoperator",
    "cross_downstream": "airlock.sdk.definitions.baseoperator",
    "dag": "airlock.sdk.definitions.dag",
    "get_current_context": "airlock.sdk.definitions.context",
    "get_parsing_context": "airlock.sdk.definitions.context",
    "literal": "airlock.sdk.definitions.templater",
    "macros": "airlock.sdk.definitions",
    "setup": "airlock.sdk.definitions.decorators",
    "task": "airlock.sdk.definitions.decorators",
    "task_group": "airlock.sdk.definitions.decorators",
    "teardown": "airlock.sdk.definitions.decorators",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'airlock.sdk' has no attribute {name!r}")
    if name == "macros":
        value: Any = importlib.import_module(f"{module}.macros")
    else:
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


def preload() -> None:
    """Import the whole authoring API now."""
    for name in __all__:
        __getattr__(name)


__all__ = [
    "DAG",
    "NEVER_EXPIRE",
    "AirlockSdkError",
    "AllowedKeyMapper",
    "Asset",
    "AssetAccessControl",
    "AssetAlias",
    "AssetAll",
    "AssetAny",
    "AssetOrTimeSchedule",
    "AssetStateStore",
    "AssetWatcher",
    "BaseEventTrigger",
    "BaseNotifier",
    "BaseOperator",
    "BaseSensorOperator",
    "BaseTrigger",
    "BashOperator",
    "BranchDecision",
    "BranchPythonOperator",
    "Connection",
    "Context",
    "CronPartitionTimetable",
    "CronTriggerTimetable",
    "DagCompleted",
    "DagDefinitionError",
    "DateTimeSensor",
    "DateTimeSensorAsync",
    "DateTimeTrigger",
    "DeadlineAlert",
    "DeadlineReference",
    "DeltaTriggerTimetable",
    "EdgeModifier",
    "EmptyOperator",
    "EventsTimetable",
    "ExceptionRetryPolicy",
    "FileSensor",
    "FileTrigger",
    "IdentityMapper",
    "Label",
    "MappedOperator",
    "Metadata",
    "MultipleCronTriggerTimetable",
    "ObjectStoragePath",
    "Param",
    "ParamValidationError",
    "ParamsDict",
    "PartitionedAssetTimetable",
    "PartitionedAtRuntime",
    "PokeReturnValue",
    "PriorityWeightStrategy",
    "ProductMapper",
    "PythonOperator",
    "RescheduleRequested",
    "RetryAction",
    "RetryDecision",
    "RetryPolicy",
    "RetryRule",
    "RunAfterQuiet",
    "RunAllQueued",
    "RunPerBatch",
    "RunPerEvent",
    "ShortCircuitOperator",
    "TaskDeferred",
    "TaskFailedEvent",
    "TaskGroup",
    "TaskStateStore",
    "TaskSuccessEvent",
    "TimeDeltaSensor",
    "TimeDeltaSensorAsync",
    "TimeDeltaTrigger",
    "ToDailyMapper",
    "ToHourlyMapper",
    "ToMonthlyMapper",
    "ToQuarterlyMapper",
    "ToWeeklyMapper",
    "ToYearlyMapper",
    "TriggerDagRunOperator",
    "TriggerEvent",
    "TriggerRule",
    "Variable",
    "WeightRule",
    "XComArg",
    "asset",
    "chain",
    "chain_linear",
    "cross_downstream",
    "dag",
    "get_current_context",
    "get_parsing_context",
    "literal",
    "macros",
    "setup",
    "task",
    "task_group",
    "teardown",
]
