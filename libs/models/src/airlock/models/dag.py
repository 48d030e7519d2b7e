"""The serialized form of a DAG: everything the scheduler and the web need, without user code.

The DAG processor imports a user's DAG file, turns each DAG into a :class:`SerializedDag` (see
``airlock.sdk.serialization``), and uploads it encoded and compressed (``airlock.models.codec``).
The control plane never imports user code: it schedules runs, evaluates trigger rules and draws
graphs from these Structs alone.

Compatibility rules, because stored DAG versions outlive the code that wrote them:

- every Struct is ``frozen``, ``kw_only`` and ``omit_defaults``; a field added after the first
  release must have a default, so old payloads keep decoding;
- unknown fields are ignored on decode, so an older reader accepts a newer payload;
- families of shapes (schedules, asset conditions, mapped arguments) are tagged unions with a
  ``kind`` tag, decoded by one prebuilt decoder;
- durations are seconds (``float``), instants are timezone-aware datetimes.
"""

from __future__ import annotations

import enum
from typing import Any, Union

import msgspec

from airlock.models.types import AwareDatetime

FORMAT_VERSION = 1


class TriggerRule(enum.StrEnum):
    """When a task may run, given the states of its direct upstream tasks (Airflow's rules)."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_DONE_MIN_ONE_SUCCESS = "all_done_min_one_success"
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"
    ALL_SKIPPED = "all_skipped"

    @classmethod
    def is_valid(cls, value: str) -> bool:
        return value in cls._value2member_map_

    @classmethod
    def all_triggers(cls) -> set[str]:
        return {member.value for member in cls}


class WeightRule(enum.StrEnum):
    """How a task's effective priority is derived from its own and its relatives' weights."""

    DOWNSTREAM = "downstream"
    UPSTREAM = "upstream"
    ABSOLUTE = "absolute"


class SensorMode(enum.StrEnum):
    POKE = "poke"
    RESCHEDULE = "reschedule"


class _Struct(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of every serialized-DAG Struct (frozen, keyword-only, defaults omitted)."""


class _Tagged(_Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="kind"):
    """Base of the members of a tagged union; the tag travels in the ``kind`` field."""


# --- assets -------------------------------------------------------------------------------------


class AssetRef(_Tagged, frozen=True, kw_only=True, omit_defaults=True, tag="asset"):
    name: str
    uri: str
    group: str = "asset"
    extra: dict[str, Any] = {}


class AssetNameRef(_Tagged, frozen=True, kw_only=True, omit_defaults=True, tag="asset_name"):
    """An asset known by name only (``Asset.ref(name=...)`` in a schedule): the control plane
    matches it against the assets it knows, whichever URI they have."""

    name: str


class AssetAliasRef(_Tagged, frozen=True, kw_only=True, omit_defaults=True, tag="alias"):
    name: str
    group: str = ""


class AssetAllCond(_Tagged, frozen=True, kw_only=True, omit_defaults=True, tag="all"):
    """Satisfied when every item is satisfied (``a & b``)."""

    items: list[AssetCondition] = []


class AssetAnyCond(_Tagged, frozen=True, kw_only=True, omit_defaults=True, tag="any"):
    """Satisfied when any item is satisfied (``a | b``)."""

    items: list[AssetCondition] = []


AssetCondition = Union[  # noqa: UP007
    AssetRef, AssetNameRef, AssetAliasRef, AssetAllCond, AssetAnyCond
]
#: What a task's ``inlets`` / ``outlets`` may name.
AssetLike = Union[AssetRef, AssetAliasRef]  # noqa: UP007


class SerializedWatcher(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An event trigger the triggerer runs to turn external events into events of ``asset``."""

    name: str
    asset: AssetRef
    trigger_classpath: str
    trigger_kwargs: dict[str, Any] = {}


# --- schedules ----------------------------------------------------------------------------------


class CronSchedule(_Tagged, frozen=True, kw_only=True, omit_defaults=True, tag="cron"):
    """A run per cron tick; presets (``@daily`` …) are stored as their five-field expression."""

    expr: str
    timezone: str = "UTC"


class DeltaSchedule(_Tagged, frozen=True, kw_only=True, omit_defaults=True, tag="delta"):
    seconds: float


class OnceSchedule(_Tagged, frozen=True, kw_only=True, omit_defaults=True, tag="once"):
    pass


class ContinuousSchedule(_Tagged, frozen=True, kw_only=True, omit_defaults=True, tag="continuous"):
    pass


class AssetRunMode(enum.StrEnum):
    """How an asset-scheduled DAG turns the events waiting for it into runs."""

    #: A run consumes the oldest waiting event of each asset of the condition (the default).
    PER_EVENT = "per_event"
    #: A run consumes every waiting event (Airflow's behaviour).
    ALL_QUEUED = "all_queued"
    #: A run consumes ``max_events`` events once that many wait, or every waiting event (up to
    #: ``max_events``) once the oldest has waited ``window_s``.
    BATCH = "batch"
    #: A run consumes every waiting event once none has arrived for ``quiet_s``, or once the
    #: oldest has waited ``max_wait_s``.
    DEBOUNCE = "debounce"


class AssetBacklog(enum.StrEnum):
    """What the events that waited through a pause become when the DAG is unpaused."""

    RUN = "run"
    SKIP = "skip"


class AssetRunPolicy(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An asset-scheduled DAG's choice of how waiting events become runs (see
    :class:`AssetRunMode`) and what happens to a backlog on unpause."""

    mode: AssetRunMode = AssetRunMode.PER_EVENT
    max_events: int | None = None
    window_s: float | None = None
    quiet_s: float | None = None
    max_wait_s: float | None = None
    on_unpause: AssetBacklog = AssetBacklog.RUN


class AssetSchedule(_Tagged, frozen=True, kw_only=True, omit_defaults=True, tag="assets"):
    condition: AssetCondition
    policy: AssetRunPolicy = AssetRunPolicy()


class NoSchedule(_Tagged, frozen=True, kw_only=True, omit_defaults=True, tag="none"):
    pass


class ListedRun(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    run_after: AwareDatetime
    interval_start: AwareDatetime
    interval_end: AwareDatetime


class ListedRuns(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The runs the DAG processor listed for a timetable written in Python when it last parsed
    the file. They depend on when the file was parsed, so they travel beside the serialized DAG
    (``DagMetadata.listed_runs``, kept on the DAG's row), not in it: a parse that lists later
    runs makes no new DAG version."""

    #: In ``run_after`` order: a window of past runs and the upcoming ones.
    runs: list[ListedRun] = []
    #: True when the timetable has no run after the last one listed.
    complete: bool = False


class ListedSchedule(_Tagged, frozen=True, kw_only=True, omit_defaults=True, tag="listed"):
    """A timetable written in Python (a custom ``Timetable`` subclass, ``EventsTimetable``,
    ``MultipleCronTriggerTimetable``): the scheduler runs no user code, so it reads the runs the
    DAG processor listed (:class:`ListedRuns`) instead of asking the timetable."""

    #: The timetable's class path (what the UI names).
    timetable: str
    #: The timetable's own arguments (its ``serialize()``, or its attributes), so that a change
    #: to them, and only that, makes a new DAG version.
    config: dict[str, Any] = {}
    #: The runs, in DAG versions stored before the runs moved to :class:`ListedRuns`.
    runs: list[ListedRun] = []
    #: True when ``runs`` is the timetable's last run (old versions, as ``runs``).
    complete: bool = False


class AssetOrTimeSchedule(
    _Tagged, frozen=True, kw_only=True, omit_defaults=True, tag="asset_or_time"
):
    """Runs on the asset condition *and* on the time schedule, each on its own (Airflow's
    ``AssetOrTimeSchedule``): asset-triggered runs as for ``assets``, scheduled runs as for
    ``timetable``."""

    condition: AssetCondition
    timetable: Union[CronSchedule, DeltaSchedule, ListedSchedule]  # noqa: UP007
    policy: AssetRunPolicy = AssetRunPolicy()


Schedule = Union[  # noqa: UP007
    CronSchedule,
    DeltaSchedule,
    OnceSchedule,
    ContinuousSchedule,
    AssetSchedule,
    ListedSchedule,
    AssetOrTimeSchedule,
    NoSchedule,
]


# --- tasks --------------------------------------------------------------------------------------


class XComRef(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The XCom a value comes from at run time."""

    task_id: str
    key: str = "return_value"


class CombinedXComs(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Several upstream XComs combined the way ``XComArg.zip`` / ``.concat`` do: ``how`` is
    ``zip`` (as long as the shortest), ``zip_longest`` (the longest, with a fill value) or
    ``concat`` (the sum of their lengths)."""

    how: str
    xcoms: list[XComRef]


class MappedArg(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One expanded argument: a literal list, an upstream XCom (``xcom``) or several combined
    (``combined``).

    For a literal list ``length`` is its length and ``values`` its elements when they are
    plain JSON (omitted otherwise: the scheduler needs only the length).
    """

    name: str
    length: int | None = None
    values: list[Any] | None = None
    xcom: XComRef | None = None
    combined: CombinedXComs | None = None


class MappedSpec(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    """How a mapped task fans out.

    ``kind`` is ``"expand"`` (one instance per element of the cross product of ``args``, in
    their order: the last argument varies fastest) or ``"expand_kwargs"`` (one instance per
    dict of a literal list of ``kwargs_length`` dicts, of the list the ``kwargs_xcom``
    upstream returns, or of the ``kwargs_combined`` upstreams' combined list). ``partial_keys``
    names the arguments fixed by ``partial``.
    """

    kind: str = "expand"
    args: list[MappedArg] = []
    kwargs_length: int | None = None
    kwargs_values: list[dict[str, Any]] | None = None
    kwargs_xcom: XComRef | None = None
    kwargs_combined: CombinedXComs | None = None
    partial_keys: list[str] = []


class SensorSpec(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    mode: SensorMode = SensorMode.POKE
    poke_interval: float = 60.0
    timeout: float = 7 * 24 * 3600.0
    soft_fail: bool = False
    exponential_backoff: bool = False
    max_wait: float | None = None


class SerializedTask(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    task_id: str
    #: Import path of the operator class, e.g. ``airlock.sdk.operators.bash.BashOperator``.
    operator_class: str
    #: What the UI shows: the class name, or ``@task`` / ``@task.branch`` … for decorated tasks.
    operator_name: str
    upstream: list[str] = []
    downstream: list[str] = []
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    depends_on_past: bool = False
    retries: int = 0
    retry_delay: float = 300.0
    retry_exponential_backoff: bool = False
    max_retry_delay: float | None = None
    execution_timeout: float | None = None
    pool: str = "default_pool"
    pool_slots: int = 1
    queue: str = "default"
    priority_weight: int = 1
    weight_rule: WeightRule = WeightRule.DOWNSTREAM
    #: ``priority_weight`` summed along ``weight_rule``, precomputed for the scheduler.
    priority_weight_total: int = 1
    #: A custom priority-weight strategy (its class path), evaluated at parse time: its weight
    #: for each try, first try first (``priority_weight_total`` is the first).
    weight_strategy: str | None = None
    priority_weight_by_try: list[int] = []
    max_active_tis_per_dag: int | None = None
    max_active_tis_per_dagrun: int | None = None
    owner: str = "airlock"
    template_fields: list[str] = []
    #: Raw (unrendered) values of template fields that are plain JSON; others are omitted.
    template_values: dict[str, Any] = {}
    template_ext: list[str] = []
    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False
    #: Tasks the scheduler marks successful without sending them to a worker (``EmptyOperator``).
    is_empty: bool = False
    is_branch: bool = False
    is_short_circuit: bool = False
    sensor: SensorSpec | None = None
    mapped: MappedSpec | None = None
    group_id: str | None = None
    inlets: list[AssetLike] = []
    outlets: list[AssetLike] = []
    has_on_execute_callback: bool = False
    has_on_success_callback: bool = False
    has_on_failure_callback: bool = False
    has_on_retry_callback: bool = False
    has_on_skipped_callback: bool = False
    doc_md: str | None = None
    task_display_name: str | None = None
    ui_color: str | None = None


class SerializedEdge(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    source: str
    target: str
    label: str | None = None


class SerializedTaskGroup(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    group_id: str
    #: ``None`` for a top-level group (the DAG's root group itself is not listed).
    parent: str | None = None
    #: Direct children: task ids and group ids.
    children: list[str] = []
    tooltip: str = ""
    prefix_group_id: bool = True
    ui_color: str | None = None


class SerializedParam(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    #: ``has_default`` tells "no default" apart from a default of ``None``.
    has_default: bool = False
    default: Any = None
    schema: dict[str, Any] = {}
    description: str | None = None


class SerializedDeadline(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A deadline alert: its callback runs if a run has not ended by ``reference + interval``.
    ``reference`` is ``dagrun_queued_at``, ``dagrun_logical_date``, ``fixed_datetime`` (at
    ``fixed_at``) or ``average_runtime`` (queued at + the average of the last ``max_runs``
    successful runs, once at least ``min_runs`` succeeded)."""

    reference: str
    interval_s: float
    fixed_at: AwareDatetime | None = None
    max_runs: int = 10
    min_runs: int | None = None


class SerializedDag(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    dag_id: str
    format_version: int = FORMAT_VERSION
    fileloc: str = ""
    relative_fileloc: str = ""
    #: sha256 of the DAG file's source, when the processor knows it.
    source_hash: str | None = None
    schedule: Schedule = NoSchedule()
    #: How the UI describes the schedule (``@daily``, ``0 6 * * *``, ``Asset``, ``None`` …).
    timetable_summary: str | None = None
    timezone: str = "UTC"
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    catchup: bool = False
    max_active_runs: int = 16
    max_active_tasks: int = 16
    max_consecutive_failed_dag_runs: int = 0
    dagrun_timeout: float | None = None
    fail_fast: bool = False
    is_paused_upon_creation: bool | None = None
    render_template_as_native_obj: bool = False
    tags: list[str] = []
    owners: list[str] = []
    description: str | None = None
    doc_md: str | None = None
    dag_display_name: str | None = None
    params: dict[str, SerializedParam] = {}
    tasks: list[SerializedTask] = []
    edges: list[SerializedEdge] = []
    task_groups: list[SerializedTaskGroup] = []
    watchers: list[SerializedWatcher] = []
    has_on_success_callback: bool = False
    has_on_failure_callback: bool = False
    deadlines: list[SerializedDeadline] = []


__all__ = [
    "FORMAT_VERSION",
    "AssetAliasRef",
    "AssetAllCond",
    "AssetAnyCond",
    "AssetBacklog",
    "AssetCondition",
    "AssetLike",
    "AssetNameRef",
    "AssetRef",
    "AssetRunMode",
    "AssetRunPolicy",
    "AssetSchedule",
    "AwareDatetime",
    "CombinedXComs",
    "ContinuousSchedule",
    "CronSchedule",
    "DeltaSchedule",
    "MappedArg",
    "MappedSpec",
    "NoSchedule",
    "OnceSchedule",
    "Schedule",
    "SensorMode",
    "SensorSpec",
    "SerializedDag",
    "SerializedDeadline",
    "SerializedEdge",
    "SerializedParam",
    "SerializedTask",
    "SerializedTaskGroup",
    "SerializedWatcher",
    "TriggerRule",
    "WeightRule",
    "XComRef",
]
