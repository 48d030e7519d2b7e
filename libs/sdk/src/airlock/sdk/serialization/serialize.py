"""SDK objects → ``airlock.models.dag`` Structs.

:func:`serialize_dag` validates the DAG (cycles, setup/teardown rules, param defaults) and
describes it without any user code: operator class paths instead of classes, flags instead of
callbacks, JSON values instead of Python objects. The result is deterministic for a given DAG
file; ``airlock.models.codec.encode_dag`` then sorts what has no meaningful order.
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from airlock.models.dag import (
    AssetAliasRef,
    AssetAllCond,
    AssetAnyCond,
    AssetCondition,
    AssetLike,
    AssetNameRef,
    AssetRef,
    AssetRunPolicy,
    AssetSchedule,
    CombinedXComs,
    ContinuousSchedule,
    CronSchedule,
    DeltaSchedule,
    ListedRuns,
    ListedSchedule,
    MappedArg,
    MappedSpec,
    NoSchedule,
    OnceSchedule,
    Schedule,
    SensorMode,
    SensorSpec,
    SerializedDag,
    SerializedDeadline,
    SerializedEdge,
    SerializedParam,
    SerializedTask,
    SerializedTaskGroup,
    SerializedWatcher,
    WeightRule,
    XComRef,
)
from airlock.models.dag import AssetOrTimeSchedule as AssetOrTimeScheduleSpec
from airlock.sdk.bases.sensor import BaseSensorOperator
from airlock.sdk.definitions.abstractoperator import AbstractOperator
from airlock.sdk.definitions.asset import Asset, AssetAlias, AssetAll, AssetAny, BaseAsset
from airlock.sdk.definitions.dag import DAG
from airlock.sdk.definitions.mappedoperator import MappedOperator
from airlock.sdk.definitions.priority_strategy import weights_by_try
from airlock.sdk.definitions.python_timetables import (
    is_python_timetable,
    list_runs,
    listed_schedule,
)
from airlock.sdk.definitions.taskgroup import TaskGroup
from airlock.sdk.definitions.timetables import (
    AssetOrTimeSchedule,
    AssetTriggeredTimetable,
    ContinuousTimetable,
    CronTriggerTimetable,
    DeltaTriggerTimetable,
    OnceTimetable,
    Timetable,
)
from airlock.sdk.definitions.xcom_arg import ConcatXComArg, MapXComArg, XComArg, ZipXComArg
from airlock.sdk.exceptions import DagDefinitionError
from airlock.sdk.serialization._values import NotJson, to_json, to_json_or_omit
from airlock.sdk.serialization.weights import priority_weight_totals
from airlock.sdk.timezone import to_stdlib


def asset_ref(asset: Asset) -> AssetRef:
    if asset.unsupported:
        raise DagDefinitionError(asset.unsupported)
    try:
        extra = to_json(asset.extra)
    except NotJson as exc:
        raise DagDefinitionError(
            f"asset {asset.name!r}: extra must be plain JSON ({exc})"
        ) from None
    return AssetRef(name=asset.name, uri=asset.uri, group=asset.group, extra=extra)


def asset_condition(condition: BaseAsset) -> AssetCondition:
    if isinstance(condition, Asset) and condition.name_only:
        return AssetNameRef(name=condition.name)
    if isinstance(condition, Asset):
        return asset_ref(condition)
    if isinstance(condition, AssetAlias):
        return AssetAliasRef(name=condition.name, group=condition.group)
    if isinstance(condition, AssetAll):
        return AssetAllCond(items=[asset_condition(o) for o in condition.objects])
    if isinstance(condition, AssetAny):
        return AssetAnyCond(items=[asset_condition(o) for o in condition.objects])
    raise DagDefinitionError(f"{type(condition).__name__} cannot be used as an asset condition")


def _asset_likes(values: list[Any]) -> list[AssetLike]:
    refs: list[AssetLike] = []
    for value in values:
        if isinstance(value, Asset):
            refs.append(asset_ref(value))
        elif isinstance(value, AssetAlias):
            refs.append(AssetAliasRef(name=value.name, group=value.group))
    return refs


def serialize_schedule(timetable: Timetable, dag_timezone: str, dag: DAG | None = None) -> Schedule:
    policy = dag.asset_run_policy.to_policy(dag.on_unpause) if dag is not None else AssetRunPolicy()
    unsupported = getattr(timetable, "unsupported", None)
    if isinstance(unsupported, str):
        raise DagDefinitionError(unsupported)
    if isinstance(timetable, AssetOrTimeSchedule):
        time_side = serialize_schedule(timetable.timetable, dag_timezone, dag)
        if not isinstance(time_side, CronSchedule | DeltaSchedule | ListedSchedule):
            raise DagDefinitionError(
                f"AssetOrTimeSchedule's timetable {timetable.timetable!r} is not time-based"
            )
        _refuse_alias_schedule(timetable.condition)
        return AssetOrTimeScheduleSpec(
            condition=asset_condition(timetable.condition), timetable=time_side, policy=policy
        )
    if dag is not None and is_python_timetable(timetable):
        return listed_schedule(timetable)
    if isinstance(timetable, CronTriggerTimetable):
        return CronSchedule(expr=timetable.expression, timezone=timetable.timezone or dag_timezone)
    if isinstance(timetable, DeltaTriggerTimetable):
        return DeltaSchedule(seconds=timetable.delta.total_seconds())
    if isinstance(timetable, OnceTimetable):
        return OnceSchedule()
    if isinstance(timetable, ContinuousTimetable):
        return ContinuousSchedule()
    if isinstance(timetable, AssetTriggeredTimetable):
        _refuse_alias_schedule(timetable.condition)
        return AssetSchedule(condition=asset_condition(timetable.condition), policy=policy)
    return NoSchedule()


def _refuse_alias_schedule(condition: BaseAsset) -> None:
    """A schedule naming an ``AssetAlias`` would never run (aliases are not resolved to their
    assets yet): say so while parsing instead."""
    pending = [condition]
    while pending:
        item = pending.pop()
        if isinstance(item, AssetAlias):
            raise DagDefinitionError(
                f"scheduling on AssetAlias({item.name!r}) is not supported yet: Airlock does not "
                "resolve an alias to the assets tasks attach to it; schedule on those assets"
            )
        if isinstance(item, AssetAll | AssetAny):
            pending.extend(item.objects)


def _xcom_ref(arg: XComArg) -> XComRef:
    return XComRef(task_id=arg.operator.task_id, key=arg.key)


def _length_source(value: XComArg) -> XComArg:
    """What a mapped task's instances are counted from: ``.map(f)`` keeps its source's length."""
    return _length_source(value.arg) if isinstance(value, MapXComArg) else value


def _combined(task: MappedOperator, value: ZipXComArg | ConcatXComArg) -> CombinedXComs:
    """The upstream XComs a ``.zip``/``.concat`` expansion counts its instances from."""
    nested = [
        arg for arg in value.args if isinstance(_length_source(arg), ZipXComArg | ConcatXComArg)
    ]
    if nested:
        raise DagDefinitionError(
            f"mapped task {task.task_id!r} expands over {value!r}, which combines "
            f"{nested[0]!r} again; zip or concatenate plain task outputs (or their .map())",
            task_id=task.task_id,
        )
    return CombinedXComs(how=value.combination, xcoms=[_xcom_ref(arg) for arg in value.args])


def _mapped_spec(task: MappedOperator) -> MappedSpec:
    if task.mapped_field is not None:
        partial_keys = sorted(task.partial_kwargs.get(task.mapped_field) or {})
    else:
        partial_keys = sorted(k for k in task.partial_kwargs if k in task.template_fields)
    if task.expand_input is None:
        source = task.expand_kwargs_input
        if isinstance(source, XComArg):
            source = _length_source(source)
        if isinstance(source, ZipXComArg | ConcatXComArg):
            return MappedSpec(
                kind="expand_kwargs",
                kwargs_combined=_combined(task, source),
                partial_keys=partial_keys,
            )
        if isinstance(source, XComArg):
            return MappedSpec(
                kind="expand_kwargs", kwargs_xcom=_xcom_ref(source), partial_keys=partial_keys
            )
        ok, values = to_json_or_omit(list(source))
        return MappedSpec(
            kind="expand_kwargs",
            kwargs_length=len(source),
            kwargs_values=values if ok else None,
            partial_keys=partial_keys,
        )
    args = []
    for name, value in task.expand_input.items():
        counted = _length_source(value) if isinstance(value, XComArg) else value
        if isinstance(counted, ZipXComArg | ConcatXComArg):
            args.append(MappedArg(name=name, combined=_combined(task, counted)))
            continue
        if isinstance(value, XComArg):
            args.append(MappedArg(name=name, xcom=_xcom_ref(value)))
            continue
        items = list(value.items()) if isinstance(value, dict) else list(value)
        ok, values = to_json_or_omit(items)
        args.append(MappedArg(name=name, length=len(items), values=values if ok else None))
    return MappedSpec(kind="expand", args=args, partial_keys=partial_keys)


def _sensor_defaults() -> dict[str, Any]:
    signature = inspect.signature(inspect.unwrap(BaseSensorOperator.__init__))
    return {name: p.default for name, p in signature.parameters.items() if p.default is not p.empty}


def _secs(value: Any) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _sensor_spec(task: AbstractOperator) -> SensorSpec | None:
    if isinstance(task, MappedOperator):
        if not issubclass(task.operator_class, BaseSensorOperator):
            return None
        defaults = _sensor_defaults()
        values = {**defaults, **{k: v for k, v in task.partial_kwargs.items() if k in defaults}}
        return SensorSpec(
            mode=SensorMode(values["mode"]),
            poke_interval=_secs(values["poke_interval"]),
            timeout=_secs(values["timeout"]),
            soft_fail=bool(values["soft_fail"]),
            exponential_backoff=bool(values["exponential_backoff"]),
            max_wait=None if values["max_wait"] is None else _secs(values["max_wait"]),
        )
    if not isinstance(task, BaseSensorOperator):
        return None
    return SensorSpec(
        mode=task.mode,
        poke_interval=task.poke_interval,
        timeout=task.timeout,
        soft_fail=task.soft_fail,
        exponential_backoff=task.exponential_backoff,
        max_wait=task.max_wait,
    )


def _template_values(task: AbstractOperator) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in task.template_fields:
        if isinstance(task, MappedOperator):
            value = task.partial_kwargs.get(name)
        else:
            value = getattr(task, name, None)
        if value is None or value in ("", [], {}):
            continue
        ok, plain = to_json_or_omit(value)
        if ok:
            values[name] = plain
    return values


def _seconds(value: Any) -> float | None:
    return None if value is None else value.total_seconds()


def serialize_task(task: AbstractOperator, priority_weight_total: int) -> SerializedTask:
    cls = task.operator_class if isinstance(task, MappedOperator) else type(task)
    group = task.task_group
    strategy = getattr(task, "weight_strategy", None)
    return SerializedTask(
        task_id=task.task_id,
        operator_class=f"{cls.__module__}.{cls.__qualname__}",
        operator_name=task.operator_name,
        upstream=sorted(task.upstream_task_ids),
        downstream=sorted(task.downstream_task_ids),
        trigger_rule=task.trigger_rule,
        depends_on_past=task.depends_on_past,
        retries=task.retries,
        retry_delay=task.retry_delay.total_seconds(),
        retry_exponential_backoff=task.retry_exponential_backoff,
        max_retry_delay=_seconds(task.max_retry_delay),
        execution_timeout=_seconds(task.execution_timeout),
        pool=task.pool,
        pool_slots=task.pool_slots,
        queue=task.queue,
        priority_weight=task.priority_weight,
        weight_rule=WeightRule(task.weight_rule),
        priority_weight_total=priority_weight_total,
        weight_strategy=(
            f"{type(strategy).__module__}.{type(strategy).__qualname__}" if strategy else None
        ),
        priority_weight_by_try=weights_by_try(task, strategy) if strategy else [],
        max_active_tis_per_dag=task.max_active_tis_per_dag,
        max_active_tis_per_dagrun=task.max_active_tis_per_dagrun,
        owner=task.owner,
        template_fields=list(task.template_fields),
        template_values=_template_values(task),
        template_ext=list(task.template_ext),
        is_setup=task.is_setup,
        is_teardown=task.is_teardown,
        on_failure_fail_dagrun=task.on_failure_fail_dagrun,
        is_empty=task.inherits_from_empty_operator
        and not (task.on_execute_callback or task.on_success_callback or task.outlets),
        is_branch=task.is_branch,
        is_short_circuit=task.is_short_circuit,
        sensor=_sensor_spec(task),
        mapped=_mapped_spec(task) if isinstance(task, MappedOperator) else None,
        group_id=None if group is None or group.is_root else group.group_id,
        inlets=_asset_likes(task.inlets),
        outlets=_asset_likes(task.outlets),
        has_on_execute_callback=bool(task.on_execute_callback),
        has_on_success_callback=bool(task.on_success_callback),
        has_on_failure_callback=bool(task.on_failure_callback),
        has_on_retry_callback=bool(task.on_retry_callback),
        has_on_skipped_callback=bool(task.on_skipped_callback),
        doc_md=task.doc_md,
        task_display_name=task.task_display_name,
        ui_color=task.ui_color,
    )


def _iter_groups(group: TaskGroup) -> Iterator[TaskGroup]:
    for child in group.children.values():
        if isinstance(child, TaskGroup):
            yield child
            yield from _iter_groups(child)


def serialize_task_group(group: TaskGroup) -> SerializedTaskGroup:
    parent = group.parent_group
    assert group.group_id is not None
    return SerializedTaskGroup(
        group_id=group.group_id,
        parent=None if parent is None or parent.is_root else parent.group_id,
        children=sorted(group.children),
        tooltip=group.tooltip,
        prefix_group_id=group.prefix_group_id,
        ui_color=group.ui_color,
    )


def _watchers(dag: DAG) -> list[SerializedWatcher]:
    timetable = dag.timetable
    if not isinstance(timetable, AssetTriggeredTimetable):
        return []
    watchers = []
    for asset in timetable.condition.iter_assets():
        for watcher in asset.watchers:
            try:
                classpath, kwargs = watcher.trigger.serialize()
                trigger_kwargs = to_json(kwargs)
            except (NotImplementedError, NotJson) as exc:
                raise DagDefinitionError(
                    f"watcher {watcher.name!r} of asset {asset.name!r}: its trigger must "
                    f"serialize() to a class path and plain-JSON kwargs ({exc})",
                    dag_id=dag.dag_id,
                ) from None
            watchers.append(
                SerializedWatcher(
                    name=watcher.name,
                    asset=asset_ref(asset),
                    trigger_classpath=classpath,
                    trigger_kwargs=trigger_kwargs,
                )
            )
    return watchers


def _params(dag: DAG) -> dict[str, SerializedParam]:
    params = {}
    for name, param in dag.params.items_params():
        try:
            default = to_json(param.value) if param.has_value else None
            schema = to_json(param.schema)
        except NotJson as exc:
            raise DagDefinitionError(
                f"param {name!r} must have a plain-JSON default and schema ({exc})",
                dag_id=dag.dag_id,
            ) from None
        params[name] = SerializedParam(
            has_default=param.has_value,
            default=default,
            schema=schema,
            description=param.description,
        )
    return params


def _relative_fileloc(dag: DAG, relative_fileloc: str | None, bundle_root: str | None) -> str:
    if relative_fileloc:
        return relative_fileloc
    if bundle_root and dag.fileloc:
        return os.path.relpath(dag.fileloc, bundle_root)
    return dag.relative_fileloc or os.path.basename(dag.fileloc)


def listed_runs(dag: DAG, *, now: dt.datetime | None = None) -> ListedRuns | None:
    """The runs of the DAG's timetable written in Python as of ``now`` (the parse), which the
    control plane keeps beside the DAG's versions; ``None`` for any other schedule."""
    timetable = dag.timetable
    if isinstance(timetable, AssetOrTimeSchedule):
        timetable = timetable.timetable
    return list_runs(timetable, dag, now=now) if is_python_timetable(timetable) else None


def serialize_dag(
    dag: DAG,
    *,
    bundle_root: str | None = None,
    relative_fileloc: str | None = None,
    source_hash: str | None = None,
) -> SerializedDag:
    """Validate ``dag`` and describe it as a :class:`~airlock.models.dag.SerializedDag`.

    ``relative_fileloc`` defaults to the DAG file's path relative to ``bundle_root`` (or its
    file name).
    """
    dag.validate()
    totals = priority_weight_totals(dag)
    tasks = [serialize_task(task, totals[task_id]) for task_id, task in dag.task_dict.items()]
    edges = [
        SerializedEdge(source=task_id, target=down, label=dag.get_edge_label(task_id, down))
        for task_id, task in dag.task_dict.items()
        for down in sorted(task.downstream_task_ids)
    ]
    return SerializedDag(
        dag_id=dag.dag_id,
        fileloc=dag.fileloc,
        relative_fileloc=_relative_fileloc(dag, relative_fileloc, bundle_root),
        source_hash=source_hash,
        schedule=serialize_schedule(dag.timetable, dag.timezone, dag),
        timetable_summary=dag.timetable.summary,
        timezone=dag.timezone,
        start_date=to_stdlib(dag.start_date),
        end_date=to_stdlib(dag.end_date),
        catchup=dag.catchup,
        max_active_runs=dag.max_active_runs,
        max_active_tasks=dag.max_active_tasks,
        max_consecutive_failed_dag_runs=dag.max_consecutive_failed_dag_runs,
        dagrun_timeout=_seconds(dag.dagrun_timeout),
        fail_fast=dag.fail_fast,
        is_paused_upon_creation=dag.is_paused_upon_creation,
        render_template_as_native_obj=dag.render_template_as_native_obj,
        tags=sorted(dag.tags),
        owners=sorted({task.owner for task in dag.task_dict.values()}),
        description=dag.description,
        doc_md=dag.doc_md,
        dag_display_name=dag.dag_display_name,
        params=_params(dag),
        tasks=sorted(tasks, key=lambda t: t.task_id),
        edges=edges,
        task_groups=[serialize_task_group(g) for g in _iter_groups(dag.task_group)],
        watchers=_watchers(dag),
        has_on_success_callback=bool(dag.on_success_callback),
        has_on_failure_callback=bool(dag.on_failure_callback),
        deadlines=[
            SerializedDeadline(
                reference=alert.reference.kind,
                interval_s=alert.interval.total_seconds(),
                fixed_at=alert.reference.fixed_at,
                max_runs=alert.reference.max_runs,
                min_runs=alert.reference.min_runs,
            )
            for alert in dag.deadline
        ],
    )
