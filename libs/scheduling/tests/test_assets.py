"""Asset events from task outlets and from outside, the consumers' queue, and the runs it
triggers: single asset, ``&`` and ``|`` conditions, paused consumers, dedup keys, exactly once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from airlock.db import (
    Asset,
    AssetDagRunQueue,
    AssetEvent,
    Dag,
    DagRun,
    DagRunAssetEvent,
)
from airlock.db.assets import schedule_asset_names, schedule_assets, set_dag_asset_references
from airlock.models.dag import (
    AssetAliasRef,
    AssetAllCond,
    AssetAnyCond,
    AssetCondition,
    AssetNameRef,
    AssetRef,
    AssetSchedule,
    SerializedDag,
)
from airlock.models.execution import AssetEventOut
from airlock.models.states import DagRunState, DagRunType
from airlock.scheduling import create_asset_event, create_asset_triggered_runs
from airlock.scheduling.asset_runs import condition_met

from .conftest import T0, Env, make_dag, succeed, task

ORDERS = AssetRef(name="orders", uri="s3://warehouse/orders")
CUSTOMERS = AssetRef(name="customers", uri="s3://warehouse/customers")
S = dt.timedelta(seconds=1)


def install(env: Env, dag: SerializedDag, *, paused: bool = False) -> None:
    """Store ``dag`` and its asset references, as the Internal API's DAG sync does."""
    env.install(dag, paused=paused)
    outlets = {
        t.task_id: [ref for ref in t.outlets if isinstance(ref, AssetRef)]
        for t in dag.tasks
        if t.outlets
    }
    with env.sessions() as session:
        set_dag_asset_references(
            session,
            {dag.dag_id: (schedule_assets(dag.schedule), outlets)},
            T0,
            {dag.dag_id: schedule_asset_names(dag.schedule)},
        )
        session.commit()


def producer(env: Env, *outlets: AssetRef | AssetAliasRef) -> None:
    install(env, make_dag("producer", [task("refresh", outlets=list(outlets))]))


def consumer(env: Env, dag_id: str, condition: AssetCondition, **options: bool) -> None:
    dag = make_dag(dag_id, [task("use")], schedule=AssetSchedule(condition=condition))
    install(env, dag, **options)


def run_producer(env: Env, **outcome: list[AssetEventOut]) -> None:
    run = env.trigger("producer")
    (ti,) = env.queued(run)
    env.start(ti.id)
    env.finish(ti.id, succeed(**outcome))


def asset_runs(env: Env, now: dt.datetime = T0) -> list[tuple[str, str]]:
    with env.sessions() as session:
        created = create_asset_triggered_runs(session, env.cache, now)
        session.commit()
        return [(run.dag_id, run.triggered_by or "") for run in created]


def count(env: Env, model: type, **where: object) -> int:
    with env.sessions() as session:
        return session.scalar(select(func.count()).select_from(model).filter_by(**where)) or 0


def test_conditions() -> None:
    both = AssetAllCond(items=[ORDERS, CUSTOMERS])
    either = AssetAnyCond(items=[ORDERS, CUSTOMERS])
    assert condition_met(ORDERS, {ORDERS.uri})
    assert not condition_met(ORDERS, {CUSTOMERS.uri})
    assert not condition_met(both, {ORDERS.uri})
    assert condition_met(both, {ORDERS.uri, CUSTOMERS.uri})
    assert condition_met(either, {CUSTOMERS.uri})
    assert not condition_met(AssetAllCond(items=[]), {ORDERS.uri})
    nested = AssetAnyCond(
        items=[AssetAllCond(items=[ORDERS, CUSTOMERS]), AssetRef(name="x", uri="x")]
    )
    assert condition_met(nested, {"x"})
    assert not condition_met(nested, {ORDERS.uri})
    assert not condition_met(AssetAliasRef(name="alias"), {ORDERS.uri})


def test_a_schedule_on_an_asset_name_runs_on_events_of_the_assets_of_that_name(env: Env) -> None:
    by_name = AssetNameRef(name="orders")
    # The consumers are stored before any asset is called "orders".
    consumer(env, "by_name", by_name)
    consumer(env, "name_and_customers", AssetAllCond(items=[by_name, CUSTOMERS]))
    consumer(env, "name_or_uri", AssetAnyCond(items=[by_name, ORDERS]))
    # A reference by URI alone stores the asset under its URI, until its definition names it.
    consumer(env, "by_uri", AssetRef(name=ORDERS.uri, uri=ORDERS.uri))
    producer(env, ORDERS)
    assert not condition_met(by_name, {ORDERS.uri})
    assert condition_met(by_name, {ORDERS.uri}, {"orders"})

    run_producer(env, asset_events=[AssetEventOut(name="orders", uri=ORDERS.uri)])

    # one queued event each: "name_or_uri" reaches the asset both ways but queues it once
    assert count(env, AssetDagRunQueue) == 4
    assert sorted(asset_runs(env)) == [
        ("by_name", "asset"),
        ("by_uri", "asset"),
        ("name_or_uri", "asset"),
    ]
    assert count(env, AssetDagRunQueue, target_dag_id="name_and_customers") == 1


def test_outlets_make_events_that_trigger_consumers(env: Env) -> None:
    producer(env, ORDERS, CUSTOMERS)
    consumer(env, "both", AssetAllCond(items=[ORDERS, CUSTOMERS]))
    consumer(env, "either", AssetAnyCond(items=[ORDERS, CUSTOMERS]))
    consumer(env, "only_orders", ORDERS)

    run_producer(
        env, asset_events=[AssetEventOut(name="orders", uri=ORDERS.uri, extra={"rows": 3})]
    )

    with env.sessions() as session:
        events = session.execute(
            select(Asset.uri, AssetEvent.extra, AssetEvent.source, AssetEvent.source_task_id)
            .join(Asset, Asset.id == AssetEvent.asset_id)
            .order_by(Asset.uri)
        ).all()
        produced_by = set(
            session.execute(select(AssetEvent.source_dag_id, AssetEvent.source_run_id)).all()
        )
        producer_runs = set(session.execute(select(DagRun.dag_id, DagRun.run_id)).all())
    assert [tuple(e) for e in events] == [
        (CUSTOMERS.uri, {}, "task", "refresh"),
        (ORDERS.uri, {"rows": 3}, "task", "refresh"),
    ]
    assert len(produced_by) == 1
    assert produced_by <= producer_runs
    # 2 events for "both" and "either", 1 for "only_orders"
    assert count(env, AssetDagRunQueue) == 5
    assert sorted(asset_runs(env)) == [
        ("both", "asset"),
        ("either", "asset"),
        ("only_orders", "asset"),
    ]
    assert count(env, AssetDagRunQueue) == 0
    with env.sessions() as session:
        run = session.scalars(select(DagRun).where(DagRun.dag_id == "both")).one()
        assert (run.run_type, run.state, run.logical_date) == (
            DagRunType.ASSET_TRIGGERED,
            DagRunState.QUEUED,
            None,
        )
        consumed = session.scalars(
            select(DagRunAssetEvent.event_id).where(DagRunAssetEvent.dag_run_id == run.id)
        ).all()
    assert len(consumed) == 2
    assert asset_runs(env, T0 + S) == [], "consumed events trigger nothing again"


def test_all_condition_waits_for_every_asset(env: Env) -> None:
    producer(env, ORDERS)
    install(env, make_dag("other_producer", [task("refresh", outlets=[CUSTOMERS])]))
    consumer(env, "both", AssetAllCond(items=[ORDERS, CUSTOMERS]))

    run_producer(env)
    run_producer_again = env.trigger("producer", T0 + S)
    assert asset_runs(env) == []
    assert count(env, AssetDagRunQueue) == 1, "the orders event waits for a customers event"

    (ti,) = env.queued(run_producer_again)
    env.start(ti.id, T0 + S)
    env.finish(ti.id, succeed(T0 + S), T0 + S)
    assert asset_runs(env, T0 + S) == []  # two orders events, still no customers event

    other = env.trigger("other_producer", T0 + 2 * S)
    (ti,) = env.queued(other)
    env.start(ti.id, T0 + 2 * S)
    env.finish(ti.id, succeed(T0 + 2 * S), T0 + 2 * S)
    assert asset_runs(env, T0 + 2 * S) == [("both", "asset")]
    with env.sessions() as session:
        # one run per event: the oldest orders event and the customers event; the newer orders
        # event waits for the next customers event
        assert session.scalar(select(func.count()).select_from(DagRunAssetEvent)) == 2
    assert count(env, AssetDagRunQueue) == 1


def test_events_wait_for_a_paused_consumer(env: Env) -> None:
    producer(env, ORDERS)
    consumer(env, "paused", ORDERS, paused=True)
    run_producer(env)
    assert count(env, AssetEvent) == 1
    assert count(env, AssetDagRunQueue) == 1
    assert asset_runs(env) == []
    with env.sessions() as session:
        session.get_one(Dag, "paused").is_paused = False
        session.commit()
    assert asset_runs(env) == [("paused", "asset")]


def test_a_task_without_outlets_makes_no_event_and_foreign_events_are_ignored(env: Env) -> None:
    producer(env)
    consumer(env, "only_orders", ORDERS)
    run_producer(env, asset_events=[AssetEventOut(name="orders", uri=ORDERS.uri)])
    assert count(env, AssetEvent) == 0
    assert asset_runs(env) == []


def test_alias_outlet_events_create_their_assets(env: Env) -> None:
    producer(env, AssetAliasRef(name="daily"))
    run_producer(env, asset_events=[AssetEventOut(name="new", uri="s3://new/asset")])
    with env.sessions() as session:
        assert session.scalars(select(Asset.uri)).all() == ["s3://new/asset"]
    assert count(env, AssetEvent) == 1


def test_pushed_event_with_dedup_key_is_stored_once(env: Env) -> None:
    consumer(env, "only_orders", ORDERS)
    with env.sessions() as session:
        asset_id = session.scalars(select(Asset.id).where(Asset.uri == ORDERS.uri)).one()
        first, created = create_asset_event(
            session, asset_id, source="api:ann", extra={"n": 1}, dedup_key="k1", now=T0
        )
        session.commit()
        assert created
        again, created_again = create_asset_event(
            session, asset_id, source="api:ann", extra={"n": 2}, dedup_key="k1", now=T0 + S
        )
        session.commit()
        assert (again.id, again.extra, created_again) == (first.id, {"n": 1}, False)
        _, other = create_asset_event(session, asset_id, source="api:ann", now=T0 + S)
        session.commit()
        assert other
    assert count(env, AssetEvent) == 2
    assert asset_runs(env) == [("only_orders", "asset")] * 2, "one run per event"


def test_consumer_no_longer_on_assets_drops_its_queue(env: Env) -> None:
    producer(env, ORDERS)
    consumer(env, "changing", ORDERS)
    run_producer(env)
    env.install(make_dag("changing", [task("use")]))  # now scheduled on nothing
    assert asset_runs(env) == []
    assert count(env, AssetDagRunQueue) == 0


def test_stale_consumer_is_not_run(env: Env) -> None:
    producer(env, ORDERS)
    consumer(env, "gone", ORDERS)
    run_producer(env)
    with env.sessions() as session:
        session.get_one(Dag, "gone").is_stale = True
        session.commit()
    assert asset_runs(env) == []
