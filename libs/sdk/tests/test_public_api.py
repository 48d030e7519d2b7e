"""The public names of airlock.sdk, and what importing it pulls in."""

from __future__ import annotations

import subprocess
import sys

import airlock.sdk

EXPECTED = {
    "DAG",
    "NEVER_EXPIRE",
    "AssetStateStore",
    "TaskStateStore",
    "ExceptionRetryPolicy",
    "RetryAction",
    "RetryDecision",
    "RetryPolicy",
    "RetryRule",
    "PriorityWeightStrategy",
    "EventsTimetable",
    "ObjectStoragePath",
    "AssetOrTimeSchedule",
    "CronPartitionTimetable",
    "PartitionedAssetTimetable",
    "PartitionedAtRuntime",
    "IdentityMapper",
    "ToHourlyMapper",
    "ToDailyMapper",
    "ToWeeklyMapper",
    "ToMonthlyMapper",
    "ToQuarterlyMapper",
    "ToYearlyMapper",
    "ProductMapper",
    "AllowedKeyMapper",
    "MultipleCronTriggerTimetable",
    "DateTimeSensor",
    "DateTimeSensorAsync",
    "DateTimeTrigger",
    "FileSensor",
    "FileTrigger",
    "TaskDeferred",
    "TaskFailedEvent",
    "TaskSuccessEvent",
    "TimeDeltaSensor",
    "TimeDeltaSensorAsync",
    "TimeDeltaTrigger",
    "AirlockSdkError",
    "Asset",
    "AssetAccessControl",
    "AssetAlias",
    "AssetAll",
    "AssetAny",
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
    "CronTriggerTimetable",
    "DagCompleted",
    "DagDefinitionError",
    "DeadlineAlert",
    "DeadlineReference",
    "DeltaTriggerTimetable",
    "EdgeModifier",
    "EmptyOperator",
    "Label",
    "MappedOperator",
    "Metadata",
    "Param",
    "ParamValidationError",
    "ParamsDict",
    "PokeReturnValue",
    "PythonOperator",
    "RescheduleRequested",
    "RunAfterQuiet",
    "RunAllQueued",
    "RunPerBatch",
    "RunPerEvent",
    "ShortCircuitOperator",
    "TaskGroup",
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
}


def test_exported_names_are_pinned() -> None:
    assert set(airlock.sdk.__all__) == EXPECTED
    assert len(airlock.sdk.__all__) == len(EXPECTED)
    for name in EXPECTED:
        assert getattr(airlock.sdk, name) is not None


def test_task_variants_exist() -> None:
    task = airlock.sdk.task
    for variant in ("python", "branch", "short_circuit", "sensor", "bash"):
        assert callable(getattr(task, variant))


def test_import_pulls_no_control_plane_code_and_no_jinja() -> None:
    code = (
        "import sys, airlock.sdk, airlock.sdk.serialization, airlock.sdk.testing;"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'"
        " or m.startswith(('airlock.db', 'airlock.core', 'jinja2'))];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
