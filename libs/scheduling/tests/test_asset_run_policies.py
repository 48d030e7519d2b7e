"""Run policies of asset-scheduled DAGs: one run per event, all queued, batches by count and by
window, debounce; events waiting through max_active_runs and pauses (run or drop the backlog);
completion events (``DagCompleted``). Each run's consumed events are exact: none lost, none twice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from airlock.db import Asset, AssetDagRunQueue, AssetEvent, Dag, DagRun, DagRunAssetEvent
from airlock.models.dag import (
    AssetAnyCond,
    AssetRef,
    AssetRunMode,
    AssetRunPolicy,
    AssetSchedule,
)
from airlock.models.states import DagRunState
from airlock.scheduling import (
    create_asset_event,
    create_asset_triggered_runs,
    drop_backlog,
    mark_run,
)
from airlock.scheduling.assets import completion_uri

from .conftest import T0, Env, make_dag, succeed, task
from .test_assets import install

ORDERS = AssetRef(name="orders", uri="s3://warehouse/orders")
S = dt.timedelta(seconds=1)


def consumer(env: Env, policy: AssetRunPolicy, *, max_active_runs: int = 16, **kw: bool) -> None:
    schedule = AssetSchedule(condition=ORDERS, policy=policy)
    dag = make_dag("c", [task("use")], schedule=schedule, max_active_runs=max_active_runs)
    install(env, dag, **kw)


def push(env: Env, n: int, now: dt.datetime = T0) -> list[int]:
    with env.sessions() as session:
        asset_id = session.scalars(select(Asset.id).where(Asset.uri == ORDERS.uri)).one()
        ids = [
            create_asset_event(session, asset_id, source="api:t", now=now)[0].id for _ in range(n)
        ]
        session.commit()
    return ids


def runs(env: Env, now: dt.datetime) -> list[list[int]]:
    """Create the due runs; the event ids each consumed."""
    with env.sessions() as session:
        created = create_asset_triggered_runs(session, env.cache, now, limit=1000)
        session.commit()
        return [
            sorted(
                session.scalars(
                    select(DagRunAssetEvent.event_id).where(DagRunAssetEvent.dag_run_id == r.id)
                )
            )
            for r in created
        ]


def finish_all(env: Env) -> None:
    with env.sessions() as session:
        session.execute(
            update(DagRun)
            .where(DagRun.dag_id == "c")
            .values(state=DagRunState.SUCCESS, end_date=T0)
        )
        session.commit()


def queued(env: Env) -> int:
    with env.sessions() as session:
        return session.scalar(select(func.count()).select_from(AssetDagRunQueue)) or 0


def test_per_event_is_the_default_and_makes_one_run_per_event(env: Env) -> None:
    consumer(env, AssetRunPolicy())
    ids = push(env, 5)
    assert runs(env, T0) == [[i] for i in ids]
    assert queued(env) == 0


def test_all_queued_is_airflows_one_run_for_everything(env: Env) -> None:
    consumer(env, AssetRunPolicy(mode=AssetRunMode.ALL_QUEUED))
    ids = push(env, 5)
    assert runs(env, T0) == [ids]


def test_batches_by_count_consume_exactly_max_events_oldest_first(env: Env) -> None:
    consumer(env, AssetRunPolicy(mode=AssetRunMode.BATCH, max_events=10))
    ids = push(env, 25)
    assert runs(env, T0) == [ids[:10], ids[10:20]]
    assert queued(env) == 5, "5 wait for the next 5"
    assert runs(env, T0 + 3600 * S) == [], "no window: a short batch waits however long"
    more = push(env, 5, T0 + 2 * S)
    assert runs(env, T0 + 2 * S) == [ids[20:] + more]


def test_batches_by_window_take_what_waited(env: Env) -> None:
    consumer(env, AssetRunPolicy(mode=AssetRunMode.BATCH, window_s=10, max_events=100))
    first = push(env, 3, T0)
    later = push(env, 4, T0 + 5 * S)
    assert runs(env, T0 + 9 * S) == []
    assert runs(env, T0 + 10 * S) == [first + later]
    assert queued(env) == 0


def test_many_events_in_batches_none_lost_or_doubled(env: Env) -> None:
    consumer(env, AssetRunPolicy(mode=AssetRunMode.BATCH, max_events=300, window_s=5))
    ids = push(env, 1000)
    made = runs(env, T0)
    assert [len(r) for r in made] == [300, 300, 300]
    made += runs(env, T0 + 5 * S)
    consumed = [i for r in made for i in r]
    assert sorted(consumed) == ids
    assert len(set(consumed)) == len(ids)


def test_debounce_waits_for_quiet_or_max_wait(env: Env) -> None:
    consumer(env, AssetRunPolicy(mode=AssetRunMode.DEBOUNCE, quiet_s=5, max_wait_s=12))
    a = push(env, 1, T0)
    b = push(env, 1, T0 + 3 * S)
    assert runs(env, T0 + 7 * S) == [], "the newest is 4 s old"
    assert runs(env, T0 + 8 * S) == [a + b]
    # a steady trickle never goes quiet: max_wait cuts it
    trickle = [push(env, 1, T0 + (20 + 4 * k) * S)[0] for k in range(4)]
    assert runs(env, T0 + 31 * S) == []
    assert runs(env, T0 + 32 * S) == [trickle]


def test_events_wait_through_max_active_runs(env: Env) -> None:
    consumer(env, AssetRunPolicy(), max_active_runs=2)
    ids = push(env, 5)
    assert runs(env, T0) == [[ids[0]], [ids[1]]]
    assert runs(env, T0 + S) == [], "two runs active: the others wait"
    assert queued(env) == 3
    finish_all(env)
    assert runs(env, T0 + 2 * S) == [[ids[2]], [ids[3]]]


def test_backlog_of_a_paused_dag_runs_or_is_dropped(env: Env) -> None:
    consumer(env, AssetRunPolicy(mode=AssetRunMode.ALL_QUEUED), paused=True)
    ids = push(env, 3)
    assert runs(env, T0) == []
    with env.sessions() as session:
        session.execute(update(Dag).where(Dag.dag_id == "c").values(is_paused=False))
        session.commit()
    assert runs(env, T0) == [ids], "the backlog runs"
    more = push(env, 2)
    with env.sessions() as session:
        assert drop_backlog(session, "c") == 2
        session.commit()
    assert runs(env, T0) == []
    assert more
    assert queued(env) == 0


def test_dag_completion_makes_an_event_of_its_reserved_asset(env: Env) -> None:
    install(env, make_dag("etl", [task("load")]))
    done = AssetRef(name="x", uri=completion_uri("etl", "success"))
    failed = AssetRef(name="y", uri=completion_uri("etl", "failed"))
    install(
        env,
        make_dag(
            "after",
            [task("use")],
            schedule=AssetSchedule(condition=AssetAnyCond(items=[done, failed])),
        ),
    )
    run = env.trigger("etl")
    (ti,) = env.queued(run)
    env.start(ti.id)
    env.finish(ti.id, succeed())
    env.schedule(run)
    assert env.run_state(run) is DagRunState.SUCCESS
    with env.sessions() as session:
        event = session.scalars(select(AssetEvent)).one()
        assert (event.source, event.source_dag_id, event.source_run_id) == (
            "completion",
            "etl",
            run.run_id,
        )
        created = create_asset_triggered_runs(session, env.cache, T0)
        session.commit()
        assert [r.dag_id for r in created] == ["after"]
        # marking a run failed by hand is a completion too
        mark_run(session, "etl", run.run_id, DagRunState.FAILED, T0 + S)
        session.commit()
        uris = session.scalars(
            select(Asset.uri)
            .join(AssetEvent, AssetEvent.asset_id == Asset.id)
            .order_by(AssetEvent.id)
        ).all()
    assert uris == [done.uri, failed.uri]


def test_a_completion_nobody_waits_for_makes_no_event(env: Env) -> None:
    install(env, make_dag("etl", [task("load")]))
    run = env.trigger("etl")
    (ti,) = env.queued(run)
    env.start(ti.id)
    env.finish(ti.id, succeed())
    env.schedule(run)
    with env.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AssetEvent)) == 0


def test_a_waiting_time_based_policy_says_when_it_comes_due(env: Env) -> None:
    consumer(env, AssetRunPolicy(mode=AssetRunMode.DEBOUNCE, quiet_s=5, max_wait_s=12))
    push(env, 1, T0)
    push(env, 1, T0 + 3 * S)
    due: list[dt.datetime] = []
    with env.sessions() as session:
        assert create_asset_triggered_runs(session, env.cache, T0 + 4 * S, due=due) == []
    assert due == [T0 + 8 * S], "the quiet period after the newest event, before max_wait"
