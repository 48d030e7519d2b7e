"""Scheduling after a task's end is incremental (only what that end can change), yet decides
exactly what a full pass over the run would: random DAGs — every trigger rule, setups and
teardowns, empty and mapped tasks, branches, skips and failures, a run-level task limit — are driven in
lockstep in two runs, one with ``finish_task``'s incremental path and one with the full pass
forced after every end, and must agree on every state after every step."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from airlock.db import CallbackRequest, TaskInstance
from airlock.models.dag import MappedArg, MappedSpec, SerializedDag, SerializedTask, TriggerRule
from airlock.models.execution import TaskOutcome, TaskSkipped
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import StateConflict, incremental
from airlock.scheduling import finish as finish_module

from .conftest import T0, Env, fail, make_dag, succeed, task

RULES = list(TriggerRule)


def _random_dag(rng: random.Random, dag_id: str) -> SerializedDag:
    count = rng.randint(4, 14)
    tasks: list[SerializedTask] = []
    setups: list[str] = []
    for i in range(count):
        earlier = [t.task_id for t in tasks]
        upstream = sorted(rng.sample(earlier, k=min(len(earlier), rng.choice([0, 1, 1, 2, 3]))))
        fields: dict[str, object] = {"trigger_rule": rng.choice(RULES)}
        roll = rng.random()
        if roll < 0.12:
            fields["is_setup"] = True
        elif roll < 0.25 and any(s in upstream for s in setups):
            fields["is_teardown"] = True
            fields["trigger_rule"] = TriggerRule.ALL_DONE_SETUP_SUCCESS
            fields["on_failure_fail_dagrun"] = rng.random() < 0.3
        elif roll < 0.35:
            fields["is_empty"] = True
        elif roll < 0.45:
            fields["is_branch"] = True
        elif roll < 0.55:
            length = rng.choice([0, 1, 3])
            fields["mapped"] = MappedSpec(args=[MappedArg(name="x", length=length)])
        tid = f"t{i:02d}"
        if fields.get("is_setup"):
            setups.append(tid)
        tasks.append(task(tid, upstream, **fields))  # type: ignore[arg-type]
    return make_dag(
        dag_id,
        tasks,
        max_active_tasks=rng.choice([2, 3, 16]),
        fail_fast=rng.random() < 0.1,
    )


def _outcome(rng: random.Random, dag: SerializedDag, task_id: str) -> TaskOutcome:
    spec = next(t for t in dag.tasks if t.task_id == task_id)
    roll = rng.random()
    if roll < 0.2:
        return fail()
    if roll < 0.3:
        return TaskSkipped(end_date=T0)
    if spec.is_branch and spec.downstream:
        skipped = rng.sample(spec.downstream, k=rng.randint(0, len(spec.downstream)))
        return succeed(skip_task_ids=skipped)
    return succeed()


def _snapshot(env: Env, run_id: str) -> dict[tuple[str, int], TIS | None]:
    with env.sessions() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state).where(
                TaskInstance.run_id == run_id
            )
        ).all()
    return {(t, m): s for t, m, s in rows}


@pytest.fixture
def count_full_passes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = finish_module.schedule_locked_run

    def counting(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(finish_module, "schedule_locked_run", counting)
    return calls


@pytest.mark.parametrize("seed", range(40))
def test_incremental_scheduling_decides_as_the_full_pass(
    sqlite_env: Env, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _lockstep(sqlite_env, seed, monkeypatch)


@pytest.mark.parametrize("seed", range(6))
def test_incremental_scheduling_decides_as_the_full_pass_on_both_databases(
    env: Env, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _lockstep(env, 1000 + seed, monkeypatch)


def _lockstep(env: Env, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    dag = _random_dag(rng, f"rand{seed}")
    env.install(dag)
    fast = env.trigger(dag.dag_id, run_id="fast")
    full = env.trigger(dag.dag_id, run_id="full")
    real = incremental.schedule_after_end
    assert _snapshot(env, "fast") == _snapshot(env, "full")
    for _ in range(100):
        queued = env.queued(fast)
        assert sorted((t.task_id, t.map_index) for t in queued) == sorted(
            (t.task_id, t.map_index) for t in env.queued(full)
        )
        if not queued:
            break
        ti = rng.choice(queued)
        twin = env.ti(full, ti.task_id, ti.map_index)
        outcome = _outcome(rng, dag, ti.task_id)
        env.start(ti.id)
        env.start(twin.id)
        monkeypatch.setattr(finish_module, "schedule_after_end", real)
        env.finish(ti.id, outcome)
        monkeypatch.setattr(finish_module, "schedule_after_end", lambda *a, **k: False)
        env.finish(twin.id, outcome)
        monkeypatch.undo()
        assert _snapshot(env, "fast") == _snapshot(env, "full"), f"after {ti.task_id}"
        assert env.run_state(fast) == env.run_state(full)
    else:
        raise AssertionError("the runs did not settle")


def test_a_wide_run_is_scheduled_without_full_passes(
    sqlite_env: Env, count_full_passes: list[int]
) -> None:
    """200 independent tasks under max_active_tasks: each end queues the next waiting task,
    and only the very last end (which decides the run's end) takes a full pass."""
    env = sqlite_env
    env.install(make_dag("wide", [task(f"t{i:03d}") for i in range(200)], max_active_tasks=16))
    run = env.trigger("wide")
    assert env.work(run, max_steps=400) is DagRunState.SUCCESS
    assert count_full_passes[0] == 1
    with env.sessions() as session:
        done = session.scalar(
            select(func.count()).where(
                TaskInstance.run_id == run.run_id, TaskInstance.state == TIS.SUCCESS
            )
        )
    assert done == 200


def test_a_chain_hands_off_without_full_passes(
    sqlite_env: Env, count_full_passes: list[int]
) -> None:
    env = sqlite_env
    env.install(
        make_dag(
            "chain", [task("c00"), *[task(f"c{i:02d}", [f"c{i - 1:02d}"]) for i in range(1, 20)]]
        )
    )
    run = env.trigger("chain")
    assert env.work(run) is DagRunState.SUCCESS
    assert count_full_passes[0] == 1


def _finish_concurrently(
    env: Env,
    run_id: str,
    outcome_of: Callable[[TaskInstance], TaskOutcome] = lambda ti: succeed(),
    *,
    conflicts_allowed: bool = False,
) -> None:
    """Workers in threads: start and finish every queued task instance of the run at once, round
    after round, with no scheduler (finish_task alone must move the run to its end)."""
    for _ in range(50):
        with env.sessions() as session:
            queued = session.scalars(
                select(TaskInstance).where(
                    TaskInstance.run_id == run_id, TaskInstance.state == TIS.QUEUED
                )
            ).all()
        if not queued:
            return
        for ti in queued:
            env.start(ti.id)
        barrier = threading.Barrier(len(queued))
        errors: list[BaseException] = []

        def end(ti: TaskInstance, barrier: threading.Barrier, errors: list[BaseException]) -> None:
            try:
                barrier.wait()
                env.finish(ti.id, outcome_of(ti))
            except StateConflict as exc:
                if not conflicts_allowed:
                    errors.append(exc)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=end, args=(ti, barrier, errors)) for ti in queued]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
    raise AssertionError("the run did not settle")


def test_siblings_ending_at_once_never_miss_their_join(env: Env) -> None:
    """The one end that completes the join's upstream sees the others' ends (the run's lock)."""
    width = 12
    env.install(
        make_dag(
            "fan",
            [
                task("start"),
                *[task(f"w{i:02d}", ["start"]) for i in range(width)],
                task("join", [f"w{i:02d}" for i in range(width)]),
                *[task(f"leaf{i:02d}") for i in range(width)],
            ],
            max_active_tasks=64,
        )
    )
    run = env.trigger("fan")
    _finish_concurrently(env, run.run_id)
    assert set(env.states(run).values()) == {TIS.SUCCESS}
    assert env.run_state(run) is DagRunState.SUCCESS


def test_a_wide_run_ending_at_once_ends_once(env: Env) -> None:
    """Independent tasks ending at once: each queues one waiting task into the slot it freed,
    the last of them ends the run, and exactly one end of it queues its callback."""
    env.install(
        make_dag(
            "flat",
            [task(f"t{i:02d}") for i in range(40)],
            max_active_tasks=8,
            has_on_success_callback=True,
        )
    )
    run = env.trigger("flat")
    _finish_concurrently(env, run.run_id)
    assert set(env.states(run).values()) == {TIS.SUCCESS}
    assert env.run_state(run) is DagRunState.SUCCESS
    with env.sessions() as session:
        kinds = session.scalars(select(CallbackRequest.kind)).all()
    assert kinds == ["dag_success"]


def test_fail_fast_with_tasks_ending_at_once_neither_deadlocks_nor_hangs(env: Env) -> None:
    env.install(
        make_dag(
            "ffc",
            [*[task(f"t{i:02d}") for i in range(10)], task("after", ["t00"])],
            fail_fast=True,
            max_active_tasks=16,
        )
    )
    run = env.trigger("ffc")
    # t03's failure fails the others still running: their own reports then conflict.
    _finish_concurrently(
        env,
        run.run_id,
        lambda ti: fail() if ti.task_id == "t03" else succeed(),
        conflicts_allowed=True,
    )
    states = env.states(run)
    assert states["t03"] is TIS.FAILED
    assert all(state in (TIS.SUCCESS, TIS.FAILED, TIS.SKIPPED) for state in states.values())
    assert env.run_state(run) is DagRunState.FAILED
