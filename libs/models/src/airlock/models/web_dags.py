"""Web API payloads about DAGs: the list, a DAG's detail, its versions, the graph of a version,
its source, and import errors. Names follow Airflow 3's REST API where it has one.

Every field added after the first release has a default, so older clients keep decoding.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from airlock.models.states import DagRunState
from airlock.models.types import AwareDatetime


class DagRunSummary(msgspec.Struct, kw_only=True, frozen=True):
    """The latest run of a DAG, as the DAG list shows it."""

    run_id: str
    state: DagRunState
    run_after: AwareDatetime
    logical_date: AwareDatetime | None = None
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    dag_version_number: int | None = None


class DagView(msgspec.Struct, kw_only=True, frozen=True):
    """One DAG as the list shows it."""

    dag_id: str
    dag_display_name: str
    bundle_name: str
    is_paused: bool
    is_stale: bool
    has_import_errors: bool
    description: str | None = None
    owners: list[str] = msgspec.field(default_factory=list)
    tags: list[str] = msgspec.field(default_factory=list)
    timetable_summary: str | None = None
    relative_fileloc: str | None = None
    last_parsed_time: AwareDatetime | None = None
    next_dagrun_logical_date: AwareDatetime | None = None
    next_dagrun_data_interval_start: AwareDatetime | None = None
    next_dagrun_data_interval_end: AwareDatetime | None = None
    next_dagrun_run_after: AwareDatetime | None = None
    latest_version_number: int | None = None
    last_run: DagRunSummary | None = None


class DagList(msgspec.Struct, kw_only=True, frozen=True):
    dags: list[DagView]
    total_entries: int


class DagDetail(DagView, kw_only=True, frozen=True):
    """A DAG with what its latest version says beyond the list's columns."""

    fileloc: str | None = None
    catchup: bool = False
    max_active_runs: int | None = None
    max_active_tasks: int | None = None
    schedule: str | None = None
    timezone: str | None = None
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    dagrun_timeout: float | None = None
    doc_md: str | None = None
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    task_count: int = 0
    latest_version_id: int | None = None


class DagPatch(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    is_paused: bool
    #: On unpause, what the asset events that waited through the pause become: ``run`` (runs,
    #: by the DAG's run policy) or ``skip`` (dropped). Default: the DAG's ``on_unpause``.
    asset_backlog: Literal["run", "skip"] | None = None


class DagVersionView(msgspec.Struct, kw_only=True, frozen=True):
    id: int
    dag_id: str
    version_number: int
    bundle_name: str
    content_hash: str
    created_at: AwareDatetime
    blob_size: int
    source_hash: str | None = None


class DagVersionList(msgspec.Struct, kw_only=True, frozen=True):
    dag_versions: list[DagVersionView]
    total_entries: int


class GraphNode(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """A task in the graph; ``group_id`` is the innermost task group holding it."""

    id: str
    label: str
    operator: str
    group_id: str | None = None
    trigger_rule: str = "all_success"
    is_mapped: bool = False
    is_setup: bool = False
    is_teardown: bool = False
    ui_color: str | None = None


class GraphEdge(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    source_id: str
    target_id: str
    label: str | None = None


class GraphTaskGroup(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """A task group; ``children`` are the task and group ids directly inside it."""

    group_id: str
    label: str
    parent_id: str | None = None
    children: list[str] = msgspec.field(default_factory=list)
    tooltip: str = ""
    ui_color: str | None = None


class DagGraph(msgspec.Struct, kw_only=True, frozen=True):
    """The structure of one DAG version, derived from its stored serialized form."""

    dag_id: str
    version_number: int
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    task_groups: list[GraphTaskGroup]


class DagSourceView(msgspec.Struct, kw_only=True, frozen=True):
    dag_id: str
    version_number: int
    content: str
    content_hash: str
    relative_fileloc: str | None = None


class ImportErrorView(msgspec.Struct, kw_only=True, frozen=True):
    import_error_id: int
    bundle_name: str
    filename: str
    stack_trace: str
    timestamp: AwareDatetime


class ImportErrorList(msgspec.Struct, kw_only=True, frozen=True):
    import_errors: list[ImportErrorView]
    total_entries: int
