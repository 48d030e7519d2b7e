"""Assets and asset events: list, read, and push an event from outside (seed 003).

Assets are global (known by URI), but a team-scoped user sees only the assets that a DAG of its
bundles consumes or produces; any other answers 404, exactly like an asset that does not exist.
In what such a user does see, consumers and producers are limited to its bundles' DAGs, and an
event made by another team's task does not name that task.

``POST /assets/events`` is the push-based trigger: the event is stored and queued for the
asset's consumers in one transaction, and the scheduler starts their runs. A ``dedup_key`` (or
the ``Idempotency-Key`` header, which means the same) makes the call safe to retry: the same key
for the same asset answers the event already stored (200) instead of a new one (201). Events of
the reserved ``airlock://`` assets (DAG completions) are made by Airlock only.

An event's ``source`` says where it came from: ``task``, ``api:<user>``, ``receiver:<name>``
(a webhook) or ``completion`` (a run's end).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from airlock.core.http import OFF_LOOP, Problem, claims_of, require_aware, require_user_role
from airlock.core.telemetry import caller_traceparent
from airlock.core.tokens import UserRole
from airlock.db import (
    Asset,
    AssetEvent,
    Dag,
    DagRun,
    DagRunAssetEvent,
    DagScheduleAsset,
    TaskOutletAsset,
)
from airlock.models.web_assets import (
    MAX_DEDUP_KEY_LENGTH,
    AssetCollection,
    AssetConsumer,
    AssetEventCollection,
    AssetEventCreate,
    AssetEventView,
    AssetProducer,
    AssetView,
    TriggeredRun,
)
from airlock.scheduling import RESERVED_SCHEME, create_asset_event
from airlock.web.consumer_runs import start_consumer_runs
from airlock.web.listing import Offset, Sorting, page_of

ASSET_SORT = Sorting(
    {
        "id": Asset.id,
        "uri": Asset.uri,
        "name": Asset.name,
        "group": Asset.group,
        "created_at": Asset.created_at,
        "updated_at": Asset.updated_at,
    },
    default="uri",
    tiebreak=[Asset.id],
)
EVENT_SORT = Sorting(
    {
        "id": AssetEvent.id,
        "timestamp": AssetEvent.timestamp,
        "asset_id": AssetEvent.asset_id,
        "source_dag_id": AssetEvent.source_dag_id,
        "source_run_id": AssetEvent.source_run_id,
        "source_task_id": AssetEvent.source_task_id,
    },
    default="-timestamp",
    tiebreak=[AssetEvent.id],
)


def _bundles(request: Request[Any, Any, Any]) -> list[str] | None:
    return claims_of(request).bundles


def _visible_asset(bundles: list[str]) -> ColumnElement[bool]:
    """``asset.id`` is consumed or produced by a DAG of ``bundles``."""
    dags = select(Dag.dag_id).where(Dag.bundle_name.in_(bundles))
    return or_(
        Asset.id.in_(select(DagScheduleAsset.asset_id).where(DagScheduleAsset.dag_id.in_(dags))),
        Asset.id.in_(select(TaskOutletAsset.asset_id).where(TaskOutletAsset.dag_id.in_(dags))),
    )


def _find_asset(
    request: Request[Any, Any, Any],
    session: Session,
    *,
    asset_id: int | None = None,
    uri: str | None = None,
) -> Asset:
    query = select(Asset).where(Asset.id == asset_id if asset_id is not None else Asset.uri == uri)
    bundles = _bundles(request)
    if bundles is not None:
        query = query.where(_visible_asset(bundles))
    asset = session.scalars(query).one_or_none()
    if asset is None:
        named = f"id {asset_id}" if asset_id is not None else f"URI {uri!r}"
        raise Problem(
            404,
            f"asset with {named} not found; assets exist once a DAG references them",
            slug="asset-not-found",
        )
    return asset


def _visible_dag_ids(session: Session, bundles: list[str] | None, dag_ids: set[str]) -> set[str]:
    if bundles is None or not dag_ids:
        return dag_ids
    return set(
        session.scalars(
            select(Dag.dag_id).where(Dag.dag_id.in_(dag_ids), Dag.bundle_name.in_(bundles))
        )
    )


def _asset_views(
    session: Session, assets: Sequence[Asset], bundles: list[str] | None
) -> list[AssetView]:
    """Views of a page of assets with their consumers, producers and last event (3 queries)."""
    ids = [asset.id for asset in assets]
    consumers: dict[int, list[AssetConsumer]] = defaultdict(list)
    producers: dict[int, list[AssetProducer]] = defaultdict(list)
    scope = [Dag.bundle_name.in_(bundles)] if bundles is not None else []
    for row in session.execute(
        select(DagScheduleAsset)
        .join(Dag, Dag.dag_id == DagScheduleAsset.dag_id)
        .where(DagScheduleAsset.asset_id.in_(ids), *scope)
        .order_by(DagScheduleAsset.dag_id)
    ).scalars():
        consumers[row.asset_id].append(AssetConsumer(dag_id=row.dag_id, created_at=row.created_at))
    for out in session.execute(
        select(TaskOutletAsset)
        .join(Dag, Dag.dag_id == TaskOutletAsset.dag_id)
        .where(TaskOutletAsset.asset_id.in_(ids), *scope)
        .order_by(TaskOutletAsset.dag_id, TaskOutletAsset.task_id)
    ).scalars():
        producers[out.asset_id].append(
            AssetProducer(dag_id=out.dag_id, task_id=out.task_id, created_at=out.created_at)
        )
    last_event: dict[int, dt.datetime] = {
        row[0]: row[1]
        for row in session.execute(
            select(AssetEvent.asset_id, func.max(AssetEvent.timestamp))
            .where(AssetEvent.asset_id.in_(ids))
            .group_by(AssetEvent.asset_id)
        )
    }
    return [
        AssetView(
            id=asset.id,
            uri=asset.uri,
            name=asset.name,
            group=asset.group,
            extra=dict(asset.extra or {}),
            created_at=asset.created_at,
            updated_at=asset.updated_at,
            consumers=consumers[asset.id],
            producers=producers[asset.id],
            last_event_at=last_event.get(asset.id),
        )
        for asset in assets
    ]


def _event_views(
    session: Session, rows: Sequence[Any], bundles: list[str] | None
) -> list[AssetEventView]:
    """Views of ``(event, asset)`` rows with the runs each event triggered."""
    ids = [event.id for event, _ in rows]
    runs: dict[int, list[TriggeredRun]] = defaultdict(list)
    scope = (
        [DagRun.dag_id.in_(select(Dag.dag_id).where(Dag.bundle_name.in_(bundles)))]
        if bundles is not None
        else []
    )
    for event_id, dag_id, run_id in session.execute(
        select(DagRunAssetEvent.event_id, DagRun.dag_id, DagRun.run_id)
        .join(DagRun, DagRun.id == DagRunAssetEvent.dag_run_id)
        .where(DagRunAssetEvent.event_id.in_(ids), *scope)
        .order_by(DagRun.id)
    ):
        runs[event_id].append(TriggeredRun(dag_id=dag_id, run_id=run_id))
    sources = {event.source_dag_id for event, _ in rows if event.source_dag_id}
    shown = _visible_dag_ids(session, bundles, sources)
    views = []
    for event, asset in rows:
        named = event.source_dag_id in shown  # another team's task is not named
        views.append(
            AssetEventView(
                id=event.id,
                asset_id=asset.id,
                uri=asset.uri,
                name=asset.name,
                group=asset.group,
                extra=dict(event.extra or {}),
                source=event.source,
                timestamp=event.timestamp,
                source_task_instance_id=event.source_task_instance_id if named else None,
                source_dag_id=event.source_dag_id if named else None,
                source_run_id=event.source_run_id if named else None,
                source_task_id=event.source_task_id if named else None,
                source_map_index=event.source_map_index if named else None,
                dedup_key=event.dedup_key,
                created_dagruns=runs[event.id],
            )
        )
    return views


class AssetController(Controller):
    path = "/assets"
    tags = ["assets"]
    guards = [require_user_role(UserRole.VIEWER)]

    @get("/", operation_id="ListAssets", sync_to_thread=True)
    def list_assets(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[Session],
        uri_pattern: FromQuery[str | None] = None,
        name_pattern: FromQuery[str | None] = None,
        dag_ids: FromQuery[list[str] | None] = None,
        limit: FromQuery[int | None] = None,
        offset: Offset = None,
        order_by: FromQuery[str | None] = None,
    ) -> AssetCollection:
        """Assets, optionally those whose URI / name contains a text (case-insensitive) or that
        the DAGs ``dag_ids`` consume or produce."""
        order = ASSET_SORT.parse(order_by)
        query = select(Asset)
        if uri_pattern:
            query = query.where(Asset.uri.icontains(uri_pattern, autoescape=True))
        if name_pattern:
            query = query.where(Asset.name.icontains(name_pattern, autoescape=True))
        if dag_ids:
            query = query.where(
                or_(
                    Asset.id.in_(
                        select(DagScheduleAsset.asset_id).where(
                            DagScheduleAsset.dag_id.in_(dag_ids)
                        )
                    ),
                    Asset.id.in_(
                        select(TaskOutletAsset.asset_id).where(TaskOutletAsset.dag_id.in_(dag_ids))
                    ),
                )
            )
        bundles = _bundles(request)
        if bundles is not None:
            query = query.where(_visible_asset(bundles))
        assets, total = page_of(session, query, order, limit, offset)
        return AssetCollection(assets=_asset_views(session, assets, bundles), total_entries=total)

    @get("/{asset_id:int}", operation_id="GetAsset", sync_to_thread=True)
    def get_asset(
        self,
        request: Request[Any, Any, Any],
        asset_id: FromPath[int],
        session: NamedDependency[Session],
    ) -> AssetView:
        """One asset with the DAGs scheduled on it and the tasks that update it."""
        asset = _find_asset(request, session, asset_id=asset_id)
        return _asset_views(session, [asset], _bundles(request))[0]

    @get("/events", operation_id="ListAssetEvents", sync_to_thread=True)
    def list_events(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[Session],
        asset_id: FromQuery[int | None] = None,
        source_dag_id: FromQuery[str | None] = None,
        source_task_id: FromQuery[str | None] = None,
        source_run_id: FromQuery[str | None] = None,
        uri: FromQuery[str | None] = None,
        source: FromQuery[str | None] = None,
        timestamp_gte: FromQuery[dt.datetime | None] = None,
        timestamp_lte: FromQuery[dt.datetime | None] = None,
        limit: FromQuery[int | None] = None,
        offset: Offset = None,
        order_by: FromQuery[str | None] = None,
    ) -> AssetEventCollection:
        """Asset events, newest first unless ``order_by`` says otherwise; ``uri`` names one
        asset, ``source`` matches a source exactly or, ending in ``:``, by prefix
        (``receiver:``)."""
        order = EVENT_SORT.parse(order_by)
        query = select(AssetEvent, Asset).join(Asset, Asset.id == AssetEvent.asset_id)
        filters = {
            AssetEvent.asset_id: asset_id,
            AssetEvent.source_dag_id: source_dag_id,
            AssetEvent.source_task_id: source_task_id,
            AssetEvent.source_run_id: source_run_id,
        }
        for column, value in filters.items():
            if value is not None:
                query = query.where(column == value)
        if uri is not None:
            query = query.where(Asset.uri == uri)
        if source:
            query = query.where(
                AssetEvent.source.startswith(source, autoescape=True)
                if source.endswith(":")
                else AssetEvent.source == source
            )
        if require_aware(timestamp_gte, "timestamp_gte") is not None:
            query = query.where(AssetEvent.timestamp >= timestamp_gte)
        if require_aware(timestamp_lte, "timestamp_lte") is not None:
            query = query.where(AssetEvent.timestamp <= timestamp_lte)
        bundles = _bundles(request)
        if bundles is not None:
            query = query.where(_visible_asset(bundles))
        rows, total = page_of(session, query, order, limit, offset)
        return AssetEventCollection(
            asset_events=_event_views(session, rows, bundles), total_entries=total
        )

    @post(
        "/events",
        operation_id="CreateAssetEvent",
        guards=[require_user_role(UserRole.OP)],
        sync_to_thread=True,
        opt=OFF_LOOP,  # starting a run of a big DAG creates up to [internal] max_dag_tasks rows
        status_code=201,
    )
    def create_event(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[AssetEventCreate],
        session: NamedDependency[Session],
    ) -> Response[AssetEventView]:
        """Record an event of an asset (by ``asset_id`` or ``uri``); its consumers' runs follow.

        201 for a new event; 200 with the stored event when ``dedup_key`` (or the
        ``Idempotency-Key`` header) was already used for this asset."""
        key = request.headers.get("idempotency-key")
        if key is not None:
            if not 0 < len(key) <= MAX_DEDUP_KEY_LENGTH:
                raise Problem(
                    400,
                    f"Idempotency-Key must be 1 to {MAX_DEDUP_KEY_LENGTH} characters, got "
                    f"{len(key)}",
                    slug="idempotency-key-invalid",
                )
            if data.dedup_key is not None and data.dedup_key != key:
                raise Problem(
                    422,
                    "the Idempotency-Key header and dedup_key differ; send one of them (they "
                    "mean the same)",
                    slug="idempotency-key-conflict",
                )
        if (data.asset_id is None) == (data.uri is None):
            raise Problem(
                422,
                "name the asset by exactly one of asset_id or uri",
                slug="asset-event-needs-one-asset",
            )
        asset = _find_asset(request, session, asset_id=data.asset_id, uri=data.uri)
        if asset.uri.lower().startswith(RESERVED_SCHEME):
            raise Problem(
                422,
                f"asset {asset.uri!r} is a DAG completion; only Airlock makes its events",
                slug="asset-uri-reserved",
            )
        event, created = create_asset_event(
            session,
            asset.id,
            source=f"api:{claims_of(request).sub}",
            extra=dict(data.extra),
            dedup_key=data.dedup_key if key is None else key,
            now=dt.datetime.now(dt.UTC),
        )
        session.commit()
        if created:
            start_consumer_runs(
                session, asset.id, event.timestamp, caller_traceparent(request.headers)
            )
        (view,) = _event_views(session, [(event, asset)], _bundles(request))
        return Response(view, status_code=201 if created else 200)
