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
"""

from airlock.models.dag import TriggerRule, WeightRule
from airlock.sdk.bases.branch import BranchDecision
from airlock.sdk.bases.sensor import BaseSensorOperator, PokeReturnValue
from airlock.sdk.bases.trigger import BaseEventTrigger, BaseTrigger, TriggerEvent
from airlock.sdk.definitions import macros
from airlock.sdk.definitions.asset import Asset, AssetAlias, AssetAll, AssetAny, AssetWatcher
from airlock.sdk.definitions.baseoperator import (
    BaseOperator,
    chain,
    chain_linear,
    cross_downstream,
)
from airlock.sdk.definitions.connection import Connection
from airlock.sdk.definitions.context import Context, get_current_context, get_parsing_context
from airlock.sdk.definitions.dag import DAG, dag
from airlock.sdk.definitions.decorators import setup, task, task_group, teardown
from airlock.sdk.definitions.edges import EdgeModifier, Label
from airlock.sdk.definitions.mappedoperator import MappedOperator
from airlock.sdk.definitions.param import Param, ParamsDict
from airlock.sdk.definitions.taskgroup import TaskGroup
from airlock.sdk.definitions.templater import literal
from airlock.sdk.definitions.timetables import CronTriggerTimetable, DeltaTriggerTimetable
from airlock.sdk.definitions.variable import Variable
from airlock.sdk.definitions.xcom_arg import XComArg
from airlock.sdk.exceptions import (
    AirlockSdkError,
    DagDefinitionError,
    ParamValidationError,
    RescheduleRequested,
)
from airlock.sdk.operators.bash import BashOperator
from airlock.sdk.operators.empty import EmptyOperator
from airlock.sdk.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from airlock.sdk.operators.trigger_dagrun import TriggerDagRunOperator

__all__ = [
    "DAG",
    "AirlockSdkError",
    "Asset",
    "AssetAlias",
    "AssetAll",
    "AssetAny",
    "AssetWatcher",
    "BaseEventTrigger",
    "BaseOperator",
    "BaseSensorOperator",
    "BaseTrigger",
    "BashOperator",
    "BranchDecision",
    "BranchPythonOperator",
    "Connection",
    "Context",
    "CronTriggerTimetable",
    "DagDefinitionError",
    "DeltaTriggerTimetable",
    "EdgeModifier",
    "EmptyOperator",
    "Label",
    "MappedOperator",
    "Param",
    "ParamValidationError",
    "ParamsDict",
    "PokeReturnValue",
    "PythonOperator",
    "RescheduleRequested",
    "ShortCircuitOperator",
    "TaskGroup",
    "TriggerDagRunOperator",
    "TriggerEvent",
    "TriggerRule",
    "Variable",
    "WeightRule",
    "XComArg",
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
