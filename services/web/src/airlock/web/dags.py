"""DAGs for people and the CLI: the list, one DAG's detail, pause and unpause.

Everything comes from the ``dag`` table and its neighbours; no DAG file is read and no DAG object
outlives a request. The list stays cheap however many DAGs there are: one query for the page,
one for its total, and one for the page's latest runs and version numbers together (never one
per DAG). Only the detail decodes a blob, the DAG's latest version, for what the table lacks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Controller, Request, get, patch
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm import Session, aliased

from airlock.core.http import Problem, claims_of, require_user_role
from airlock.core.tokens import UserRole
from airlock.db import Dag, DagRun, DagVersion
from airlock.models.codec import CodecError, decode_dag
from airlock.models.dag import AssetBacklog, AssetSchedule
from airlock.models.web_dags import DagDetail, DagList, DagPatch, DagRunSummary, DagView
from airlock.scheduling import drop_backlog
from airlock.web.access import visible_dag
from airlock.web.filters import contains, json_list_has, plain_text
from airlock.web.listing import Offset, Sorting, page_of

log = logging.getLogger(__name__)

#: Largest serialized DAG the Web API decodes (the Internal API's upload limit).
MAX_DECOMPRESSED_BYTES = 64_000_000

DISPLAY_NAME = func.coalesce(Dag.dag_display_name, Dag.dag_id)

DAG_SORTING = Sorting(
    {
        "dag_id": Dag.dag_id,
        "dag_display_name": DISPLAY_NAME,
        "bundle_name": Dag.bundle_name,
        "next_dagrun": Dag.next_dagrun,
        "last_parsed_time": Dag.last_parsed_at,
        "is_paused": Dag.is_paused,
    },
    default="dag_id",
    tiebreak=[Dag.dag_id],
)


class DagController(Controller):
    path = "/dags"
    tags = ["dags"]
    guards = [require_user_role(UserRole.VIEWER)]

    @get("/", operation_id="ListDags", sync_to_thread=True)
    def list_dags(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[Session],
        limit: FromQuery[int | None] = None,
        offset: Offset = None,
        order_by: FromQuery[str | None] = None,
        search: FromQuery[str | None] = None,
        dag_id_pattern: FromQuery[str | None] = None,
        dag_display_name_pattern: FromQuery[str | None] = None,
        tags: FromQuery[list[str] | None] = None,
        tags_match_mode: FromQuery[str] = "any",
        owners: FromQuery[list[str] | None] = None,
        bundle_name: FromQuery[list[str] | None] = None,
        paused: FromQuery[bool | None] = None,
        exclude_stale: FromQuery[bool] = True,
        stale: FromQuery[bool | None] = None,
        has_import_errors: FromQuery[bool | None] = None,
    ) -> DagList:
        """DAGs the caller may see, a page at a time.

        ``search`` matches a substring of the DAG id or display name; ``dag_id_pattern`` and
        ``dag_display_name_pattern`` match one of them (``%`` and ``_`` are plain characters).
        ``tags`` keeps DAGs with any of the tags (``tags_match_mode=all``: with all of them).
        Stale DAGs (gone from their bundle) are left out unless ``exclude_stale=false``;
        ``stale=true`` lists only them.
        """
        if tags_match_mode not in ("any", "all"):
            raise Problem(
                400,
                f"tags_match_mode must be 'any' or 'all', not {tags_match_mode!r}",
                slug="bad-filter",
            )
        for name, value in (
            ("search", search),
            ("dag_id_pattern", dag_id_pattern),
            ("dag_display_name_pattern", dag_display_name_pattern),
            ("tags", tags),
            ("owners", owners),
            ("bundle_name", bundle_name),
        ):
            plain_text(name, value)
        query = select(Dag)
        bundles = claims_of(request).bundles
        if bundles is not None:
            query = query.where(Dag.bundle_name.in_(bundles))
        if search:
            query = query.where(or_(contains(Dag.dag_id, search), contains(DISPLAY_NAME, search)))
        if dag_id_pattern:
            query = query.where(contains(Dag.dag_id, dag_id_pattern))
        if dag_display_name_pattern:
            query = query.where(contains(DISPLAY_NAME, dag_display_name_pattern))
        if tags:
            matches = [json_list_has(session, Dag.tags, tag) for tag in tags]
            query = query.where(or_(*matches) if tags_match_mode == "any" else and_(*matches))
        if owners:
            query = query.where(or_(*(json_list_has(session, Dag.owners, o) for o in owners)))
        if bundle_name:
            query = query.where(Dag.bundle_name.in_(bundle_name))
        if paused is not None:
            query = query.where(Dag.is_paused.is_(paused))
        if stale is not None:
            query = query.where(Dag.is_stale.is_(stale))
        elif exclude_stale:
            query = query.where(Dag.is_stale.is_(False))
        if has_import_errors is not None:
            query = query.where(Dag.has_import_errors.is_(has_import_errors))
        dags, total = page_of(session, query, DAG_SORTING.parse(order_by), limit, offset)
        extras = _page_extras(session, [dag.dag_id for dag in dags])
        return DagList(
            dags=[_dag_view(dag, *extras.get(dag.dag_id, (None, None))) for dag in dags],
            total_entries=total,
        )

    @get("/{dag_id:str}", operation_id="GetDag", sync_to_thread=True)
    def get_dag(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        session: NamedDependency[Session],
    ) -> DagDetail:
        dag = visible_dag(request, session, dag_id)
        version_number, last_run = _page_extras(session, [dag_id]).get(dag_id, (None, None))
        view = _dag_view(dag, version_number, last_run)
        fields = msgspec.structs.asdict(view)
        blob = None
        if dag.latest_version_id is not None:
            blob = session.scalar(
                select(DagVersion.blob).where(DagVersion.id == dag.latest_version_id)
            )
        if blob is None:
            return DagDetail(**fields, fileloc=dag.fileloc, catchup=dag.catchup)
        try:
            serialized = decode_dag(blob, MAX_DECOMPRESSED_BYTES)
        except CodecError as exc:
            raise Problem(
                409,
                f"the stored form of DAG {dag_id!r} cannot be read ({exc}); re-parse its bundle",
                slug="dag-version-unreadable",
            ) from None
        return DagDetail(
            **fields,
            fileloc=dag.fileloc,
            catchup=dag.catchup,
            max_active_runs=dag.max_active_runs,
            max_active_tasks=dag.max_active_tasks,
            schedule=dag.schedule,
            timezone=serialized.timezone,
            start_date=serialized.start_date,
            end_date=serialized.end_date,
            dagrun_timeout=serialized.dagrun_timeout,
            doc_md=serialized.doc_md,
            params={name: msgspec.to_builtins(p) for name, p in serialized.params.items()},
            task_count=len(serialized.tasks),
            latest_version_id=dag.latest_version_id,
        )

    @patch(
        "/{dag_id:str}",
        operation_id="PatchDag",
        guards=[require_user_role(UserRole.OP)],
        sync_to_thread=True,
    )
    def patch_dag(
        self,
        request: Request[Any, Any, Any],
        dag_id: FromPath[str],
        data: JSONBody[DagPatch],
        session: NamedDependency[Session],
    ) -> DagView:
        """Pause (``{"is_paused": true}``) or unpause a DAG. On unpause, the asset events that
        waited through the pause run, or are dropped with ``"asset_backlog": "skip"`` (default:
        the DAG's ``on_unpause``)."""
        dag = visible_dag(request, session, dag_id)
        if dag.is_paused and not data.is_paused:
            backlog = data.asset_backlog or _on_unpause(session, dag)
            if backlog == AssetBacklog.SKIP:
                dropped = drop_backlog(session, dag_id)
                log.info("unpausing %s dropped %d waiting asset events", dag_id, dropped)
        dag.is_paused = data.is_paused
        session.commit()
        version_number, last_run = _page_extras(session, [dag_id]).get(dag_id, (None, None))
        return _dag_view(dag, version_number, last_run)


def _on_unpause(session: Session, dag: Dag) -> str:
    """The DAG's own choice for its backlog (its latest version's asset run policy)."""
    if dag.latest_version_id is None:
        return AssetBacklog.RUN
    blob = session.scalar(select(DagVersion.blob).where(DagVersion.id == dag.latest_version_id))
    try:
        serialized = decode_dag(blob, MAX_DECOMPRESSED_BYTES) if blob else None
    except CodecError:
        return AssetBacklog.RUN  # an unreadable version is reported where it is read
    if serialized is None or not isinstance(serialized.schedule, AssetSchedule):
        return AssetBacklog.RUN
    return serialized.schedule.policy.on_unpause


_LATEST_RUN_ID = (
    select(DagRun.id)
    .where(DagRun.dag_id == Dag.dag_id)
    .order_by(DagRun.run_after.desc(), DagRun.id.desc())
    .limit(1)
    .correlate(Dag)
    .scalar_subquery()
)
_RUN_VERSION = aliased(DagVersion)
#: Built once: a statement made per request (its alias above all) costs more CPU to construct
#: and compile than the database takes to answer it.
_PAGE_EXTRAS = (
    select(
        Dag.dag_id,
        DagVersion.version_number,
        DagRun.run_id,
        DagRun.state,
        DagRun.run_after,
        DagRun.logical_date,
        DagRun.start_date,
        DagRun.end_date,
        _RUN_VERSION.version_number,
    )
    .select_from(Dag)
    .outerjoin(DagVersion, DagVersion.id == Dag.latest_version_id)
    .outerjoin(DagRun, DagRun.id == _LATEST_RUN_ID)
    .outerjoin(_RUN_VERSION, _RUN_VERSION.id == DagRun.dag_version_id)
    .where(Dag.dag_id.in_(bindparam("dag_ids", expanding=True)))
)


def _page_extras(
    session: Session, dag_ids: Sequence[str]
) -> dict[str, tuple[int | None, DagRunSummary | None]]:
    """For each DAG: its latest version number and latest run, in one query for the page."""
    if not dag_ids:
        return {}
    extras: dict[str, tuple[int | None, DagRunSummary | None]] = {}
    for row in session.execute(_PAGE_EXTRAS, {"dag_ids": list(dag_ids)}):
        dag_id, version_number, run_id, state, run_after, logical, start, end, run_number = row
        last_run = None
        if run_id is not None:
            last_run = DagRunSummary(
                run_id=run_id,
                state=state,
                run_after=run_after,
                logical_date=logical,
                start_date=start,
                end_date=end,
                dag_version_number=run_number,
            )
        extras[dag_id] = (version_number, last_run)
    return extras


def _dag_view(dag: Dag, version_number: int | None, last_run: DagRunSummary | None) -> DagView:
    return DagView(
        dag_id=dag.dag_id,
        dag_display_name=dag.dag_display_name or dag.dag_id,
        bundle_name=dag.bundle_name,
        is_paused=dag.is_paused,
        is_stale=dag.is_stale,
        has_import_errors=dag.has_import_errors,
        description=dag.description,
        owners=list(dag.owners or []),
        tags=list(dag.tags or []),
        timetable_summary=dag.timetable_summary,
        relative_fileloc=dag.relative_fileloc,
        last_parsed_time=dag.last_parsed_at,
        next_dagrun_logical_date=dag.next_dagrun,
        next_dagrun_data_interval_start=dag.next_dagrun_data_interval_start,
        next_dagrun_data_interval_end=dag.next_dagrun_data_interval_end,
        next_dagrun_run_after=dag.next_dagrun_create_after,
        latest_version_number=version_number,
        last_run=last_run,
    )
