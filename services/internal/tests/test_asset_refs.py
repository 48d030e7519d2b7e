"""The Internal API's DAG sync records which DAGs are scheduled on which assets (consumers) and
which tasks update them (producers), from the uploaded blobs, whenever a DAG gets a new version."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.core.settings import InternalSettings
from airlock.db import Asset, DagScheduleAsset, TaskOutletAsset, make_engine, make_session_factory
from airlock.db import upgrade as migrate
from airlock.internal.dag_sync import BlobLimits, check_blobs, sync_bundle
from airlock.models.codec import encode_and_compress
from airlock.models.dag import (
    AssetAliasRef,
    AssetAllCond,
    AssetLike,
    AssetRef,
    AssetSchedule,
    Schedule,
    SerializedDag,
    SerializedTask,
)
from airlock.models.internal import BundleSync, DagMetadata, DagUpload, ParsedFile

ORDERS = AssetRef(name="orders", uri="s3://warehouse/orders", extra={"format": "parquet"})
CUSTOMERS = AssetRef(name="customers", uri="s3://warehouse/customers")


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def dag(dag_id: str, schedule: Schedule | None = None, **outlets: list[AssetLike]) -> DagUpload:
    tasks = [
        SerializedTask(task_id=t, operator_class="x.Op", operator_name="Op", outlets=list(refs))
        for t, refs in (outlets or {"t": []}).items()
    ]
    serialized = SerializedDag(
        dag_id=dag_id, tasks=tasks, **({"schedule": schedule} if schedule else {})
    )
    blob, content_hash = encode_and_compress(serialized)
    meta = DagMetadata(dag_id=dag_id, fileloc=f"/b/{dag_id}.py", relative_fileloc=f"{dag_id}.py")
    return DagUpload(metadata=meta, dag_hash=content_hash, blob=blob)


def sync(session: Session, *uploads: DagUpload) -> None:
    batch = BundleSync(
        files=[
            ParsedFile(
                relative_path=u.metadata.relative_fileloc,
                content_hash=hashlib.sha256(u.dag_hash.encode()).hexdigest(),
                dags=[u],
            )
            for u in uploads
        ]
    )
    limits = BlobLimits.of(InternalSettings())
    sync_bundle(session, "b", batch, check_blobs(batch, limits), limits)


def references(session: Session) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    consumers = session.execute(
        select(DagScheduleAsset.dag_id, Asset.uri)
        .join(Asset, Asset.id == DagScheduleAsset.asset_id)
        .order_by(DagScheduleAsset.dag_id, Asset.uri)
    ).all()
    producers = session.execute(
        select(TaskOutletAsset.dag_id, TaskOutletAsset.task_id, Asset.uri)
        .join(Asset, Asset.id == TaskOutletAsset.asset_id)
        .order_by(TaskOutletAsset.dag_id, TaskOutletAsset.task_id, Asset.uri)
    ).all()
    return [(c[0], c[1]) for c in consumers], [(p[0], p[1], p[2]) for p in producers]


def test_new_versions_rewrite_references(session: Session) -> None:
    both = AssetSchedule(condition=AssetAllCond(items=[ORDERS, CUSTOMERS]))
    sync(
        session,
        dag("producer", refresh=[ORDERS, CUSTOMERS], alias=[AssetAliasRef(name="a")]),
        dag("consumer", both),
    )
    assert references(session) == (
        [("consumer", CUSTOMERS.uri), ("consumer", ORDERS.uri)],
        [("producer", "refresh", CUSTOMERS.uri), ("producer", "refresh", ORDERS.uri)],
    )
    asset = session.scalars(select(Asset).where(Asset.uri == ORDERS.uri)).one()
    assert (asset.name, asset.group, asset.extra) == ("orders", "asset", {"format": "parquet"})

    # a new version of the consumer, scheduled on one asset only; the producer is unchanged
    sync(
        session,
        dag("producer", refresh=[ORDERS, CUSTOMERS], alias=[AssetAliasRef(name="a")]),
        dag("consumer", AssetSchedule(condition=ORDERS)),
    )
    session.expire_all()
    consumers, producers = references(session)
    assert consumers == [("consumer", ORDERS.uri)]
    assert len(producers) == 2

    # no asset schedule any more: the DAG consumes nothing; assets themselves stay
    sync(session, dag("consumer"))
    assert references(session)[0] == []
    assert len(session.scalars(select(Asset)).all()) == 2
