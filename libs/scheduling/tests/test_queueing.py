"""Queueing within limits: pool slots, the DAG's max_active_tasks per run, per-task limits, and
priority order — within one run and across runs."""

from __future__ import annotations

from airlock.db import Pool
from airlock.models.dag import MappedArg, MappedSpec
from airlock.models.execution import TaskDeferred
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import queue_scheduled

from .conftest import T0, Env, make_dag, succeed, task


def _add_pool(env: Env, name: str, slots: int, include_deferred: bool = False) -> None:
    with env.sessions() as session:
        session.add(Pool(name=name, slots=slots, include_deferred=include_deferred))
        session.commit()


def _queued_ids(env: Env) -> list[str]:
    return [ti.task_id for ti in env.queued()]


def test_pool_slots_cap_queued_and_running_tasks(env: Env) -> None:
    _add_pool(env, "db", 3)
    env.install(
        make_dag(
            "pooled",
            [
                task("big", pool="db", pool_slots=2, priority_weight_total=10),
                *[task(f"t{i}", pool="db") for i in range(4)],
            ],
        )
    )
    run = env.trigger("pooled")
    assert sorted(_queued_ids(env)) == ["big", "t0"]  # 2 + 1 slots
    big = env.ti(run, "big")
    env.start(big.id)
    assert env.states(run)["t1"] is TIS.SCHEDULED
    env.finish(big.id, succeed())  # frees 2 slots: the next two go
    assert sorted(_queued_ids(env)) == ["t0", "t1", "t2"]


def test_max_active_tasks_is_per_run(env: Env) -> None:
    env.install(make_dag("wide", [task(f"t{i}") for i in range(5)], max_active_tasks=2))
    first = env.trigger("wide", run_id="first")
    second = env.trigger("wide", run_id="second")
    assert len(env.queued(first)) == 2
    assert len(env.queued(second)) == 2
    assert list(env.states(first).values()).count(TIS.SCHEDULED) == 3


def test_higher_priority_goes_first(sqlite_env: Env) -> None:
    env = sqlite_env
    _add_pool(env, "one", 1)
    env.install(
        make_dag(
            "prio",
            [
                task(name, pool="one", priority_weight_total=w)
                for name, w in [("low", 1), ("high", 9), ("mid", 5)]
            ],
        )
    )
    run = env.trigger("prio")
    order = []
    for _ in range(3):
        (ti,) = env.queued(run)
        order.append(ti.task_id)
        env.start(ti.id)
        env.finish(ti.id, succeed())
    assert order == ["high", "mid", "low"]


def test_per_task_limits(sqlite_env: Env) -> None:
    env = sqlite_env
    spec = MappedSpec(args=[MappedArg(name="x", length=5)])
    env.install(
        make_dag(
            "limited",
            [
                task("per_run", mapped=spec, max_active_tis_per_dagrun=2),
                task("per_dag", mapped=spec, max_active_tis_per_dag=3),
            ],
        )
    )
    first = env.trigger("limited", run_id="first")
    second = env.trigger("limited", run_id="second")
    in_first = [ti.task_id for ti in env.queued(first)]
    in_second = [ti.task_id for ti in env.queued(second)]
    assert in_first.count("per_run") == 2
    assert in_second.count("per_run") == 2
    assert in_first.count("per_dag") + in_second.count("per_dag") == 3


def test_a_missing_pool_leaves_tasks_scheduled(sqlite_env: Env) -> None:
    sqlite_env.install(make_dag("nopool", [task("a", pool="nowhere")]))
    run = sqlite_env.trigger("nopool")
    assert sqlite_env.states(run) == {"a": TIS.SCHEDULED}


def test_an_unlimited_pool(sqlite_env: Env) -> None:
    _add_pool(sqlite_env, "open", -1)
    sqlite_env.install(
        make_dag("unl", [task(f"t{i}", pool="open") for i in range(20)], max_active_tasks=50)
    )
    run = sqlite_env.trigger("unl")
    assert len(sqlite_env.queued(run)) == 20


def test_deferred_tasks_hold_slots_only_if_the_pool_says_so(sqlite_env: Env) -> None:
    env = sqlite_env
    _add_pool(env, "p", 1, include_deferred=True)
    env.install(make_dag("defer", [task("a", pool="p"), task("b", pool="p")]))
    run = env.trigger("defer")
    (first,) = env.queued(run)
    env.start(first.id)
    env.finish(first.id, TaskDeferred(trigger_classpath="x.Trigger"))
    assert env.queued(run) == []  # the deferred task still holds the only slot
    with env.sessions() as session:
        session.get_one(Pool, "p").include_deferred = False
        session.commit()
    env.schedule(run)
    assert len(env.queued(run)) == 1


def test_queue_scheduled_honours_priority_across_runs(env: Env) -> None:
    _add_pool(env, "one", 1)
    env.install(make_dag("low", [task("t", pool="one", priority_weight_total=1)]))
    env.install(make_dag("high", [task("t", pool="one", priority_weight_total=5)]))
    low = env.trigger("low")
    (holder,) = env.queued(low)  # the low run got the slot first
    high = env.trigger("high")
    low2 = env.trigger("low", run_id="again")
    for run in (high, low2):
        env.schedule(run, queue=False)
    env.start(holder.id)
    with env.sessions() as session:
        assert queue_scheduled(session, env.cache, T0) == []  # the slot is busy
        session.commit()
    env.finish(holder.id, succeed())  # the low run is done; its pass queues nothing else of its own
    with env.sessions() as session:
        queued = queue_scheduled(session, env.cache, T0)
        session.commit()
    assert queued == [env.ti(high, "t").id]
