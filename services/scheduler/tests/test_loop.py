"""The scheduler loop on a real database: scheduled runs, queueing across runs, housekeeping, the
heartbeat, and waking up promptly when something changes."""

from __future__ import annotations

import datetime as dt
import threading
import time

from sqlalchemy import select, update

from airlock.db import ComponentHeartbeat, Pool, TaskInstance
from airlock.models.dag import CronSchedule, DeltaSchedule
from airlock.models.execution import TaskFailed
from airlock.models.states import DagRunState, DagRunType
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduler import Scheduler
from airlock.scheduling import create_dag_run

from .conftest import Env, make_dag, task, utcnow

HOUR = dt.timedelta(hours=1)


def _scheduler(env: Env, **options: object) -> Scheduler:
    return Scheduler(env.sessions, dag_cache=env.cache, **options)  # type: ignore[arg-type]


def test_creates_due_runs_and_drives_them_to_success(env: Env) -> None:
    start = (utcnow() - 2.5 * HOUR).replace(microsecond=0)
    env.install(
        make_dag(
            "hourly",
            [task("extract"), task("load", ["extract"])],
            schedule=DeltaSchedule(seconds=3600),
            start_date=start,
            catchup=True,
            max_active_runs=2,
        )
    )
    scheduler = _scheduler(env)
    for _ in range(20):
        scheduler.run_once()
        if not env.work_all() and len(env.runs("hourly")) == 3:
            scheduler.run_once()
            break
    runs = env.runs("hourly")
    assert [r.logical_date for r in runs] == [start, start + HOUR, start + 2 * HOUR]
    assert [r.run_type for r in runs] == [DagRunType.SCHEDULED] * 3
    assert [r.state for r in runs] == [DagRunState.SUCCESS] * 3
    dag = env.dag("hourly")
    assert dag.next_dagrun == start + 3 * HOUR
    assert dag.next_dagrun_create_after == start + 3 * HOUR


def test_max_active_runs_holds_back_run_creation(sqlite_env: Env) -> None:
    env = sqlite_env
    env.install(
        make_dag(
            "backlog",
            [task("t")],
            schedule=DeltaSchedule(seconds=3600),
            start_date=utcnow() - 5 * HOUR,
            catchup=True,
            max_active_runs=2,
        )
    )
    scheduler = _scheduler(env)
    for _ in range(4):
        scheduler.run_once()
    assert len(env.runs("backlog")) == 2


def test_without_catchup_only_the_latest_tick_runs(sqlite_env: Env) -> None:
    env = sqlite_env
    env.install(
        make_dag(
            "latest",
            [task("t")],
            schedule=CronSchedule(expr="0 * * * *"),
            start_date=utcnow() - 5 * HOUR,
            catchup=False,
        )
    )
    scheduler = _scheduler(env)
    for _ in range(3):
        scheduler.run_once()
    (run,) = env.runs("latest")
    assert run.logical_date == utcnow().replace(minute=0, second=0, microsecond=0)
    assert env.dag("latest").next_dagrun == run.logical_date + HOUR


def test_a_paused_dag_gets_no_runs_until_unpaused(sqlite_env: Env) -> None:
    env = sqlite_env
    env.install(
        make_dag(
            "sleepy",
            [task("t")],
            schedule=DeltaSchedule(seconds=3600),
            start_date=utcnow() - HOUR / 2,
        ),
        paused=True,
    )
    scheduler = _scheduler(env)
    scheduler.run_once()
    assert env.runs("sleepy") == []
    with env.sessions() as session:
        session.get_one(type(env.dag("sleepy")), "sleepy").is_paused = False
        session.commit()
    scheduler.run_once()
    assert len(env.runs("sleepy")) == 1


def test_a_freed_pool_slot_goes_to_another_run_by_priority(env: Env) -> None:
    with env.sessions() as session:
        session.add(Pool(name="one", slots=1))
        session.commit()
    env.install(make_dag("busy", [task("t", pool="one", priority_weight_total=1)]))
    env.install(make_dag("urgent", [task("t", pool="one", priority_weight_total=9)]))
    env.install(make_dag("idle", [task("t", pool="one", priority_weight_total=1)]))
    with env.sessions() as session:
        for dag_id in ("busy", "idle", "urgent"):
            create_dag_run(session, dag_id, run_type="manual", dag_cache=env.cache)
        session.commit()
    scheduler = _scheduler(env)
    scheduler.run_once()
    (first,) = env.take()
    with env.sessions() as session:
        assert session.get_one(TaskInstance, first).dag_id == "urgent"
    env.finish(first)
    scheduler.run_once()
    (second,) = env.take()
    env.finish(second)
    scheduler.run_once()
    (third,) = env.take()
    env.finish(third)
    scheduler.run_once()
    assert {r.state for d in ("busy", "urgent", "idle") for r in env.runs(d)} == {
        DagRunState.SUCCESS
    }


def test_a_task_whose_worker_died_is_retried(sqlite_env: Env) -> None:
    env = sqlite_env
    env.install(make_dag("z", [task("t", retries=1, retry_delay=0.0)]))
    with env.sessions() as session:
        create_dag_run(session, "z", run_type="manual", dag_cache=env.cache)
        session.commit()
    scheduler = _scheduler(env, task_heartbeat_timeout_s=30.0, housekeeping_interval_s=0.0)
    scheduler.run_once()
    (ti_id,) = env.take()
    with env.sessions() as session:
        session.execute(
            update(TaskInstance)
            .where(TaskInstance.id == ti_id)
            .values(last_heartbeat_at=utcnow() - dt.timedelta(seconds=31))
        )
        session.commit()
    report = scheduler.run_once()
    assert report.zombies == 1
    with env.sessions() as session:
        ti = session.get_one(TaskInstance, ti_id)
        assert (ti.state, ti.try_number) == (TIS.QUEUED, 1)


def test_the_heartbeat_row(sqlite_env: Env) -> None:
    _scheduler(sqlite_env, name="s1").run_once()
    with sqlite_env.sessions() as session:
        row = session.scalars(select(ComponentHeartbeat)).one()
    assert (row.kind, row.name) == ("scheduler", "s1")
    assert row.info["pid"] > 0


def test_run_forever_reacts_at_once_and_stops_promptly(sqlite_env: Env) -> None:
    env = sqlite_env
    env.install(make_dag("prompt", [task("a"), task("b", ["a"], retries=1, retry_delay=0.3)]))
    scheduler = _scheduler(env, loop_interval_s=10.0, poll_s=0.02)
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run_forever, args=(stop,))
    thread.start()
    try:
        time.sleep(0.3)  # let it go idle
        with env.sessions() as session:  # a run created but not started, as by another process
            create_dag_run(session, "prompt", run_type="manual", dag_cache=env.cache)
            session.commit()
        assert _within(2.0, lambda: bool(env.take()))  # far sooner than the 10 s loop interval
        a = _one_running(env)
        env.finish(a)
        (b,) = env.take()
        assert env.finish(b, TaskFailed(end_date=utcnow())) is TIS.UP_FOR_RETRY
        # the retry comes due 0.3 s later: the scheduler wakes for it
        assert _within(2.0, lambda: bool(env.take()))
    finally:
        began = time.monotonic()
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - began < 1.0


def _one_running(env: Env) -> str:
    with env.sessions() as session:
        return session.scalars(
            select(TaskInstance.id).where(TaskInstance.state == TIS.RUNNING)
        ).one()


def _within(seconds: float, condition: object) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_a_tick_a_manual_run_already_took_is_skipped(sqlite_env: Env) -> None:
    env = sqlite_env
    start = (utcnow() - HOUR / 2).replace(microsecond=0)
    env.install(
        make_dag(
            "taken",
            [task("t")],
            schedule=DeltaSchedule(seconds=3600),
            start_date=start,
            catchup=True,
        )
    )
    with env.sessions() as session:
        create_dag_run(session, "taken", run_type="manual", logical_date=start, dag_cache=env.cache)
        session.commit()
    _scheduler(env).run_once()
    assert [r.run_type for r in env.runs("taken")] == [DagRunType.MANUAL]
    assert env.dag("taken").next_dagrun == start + HOUR
