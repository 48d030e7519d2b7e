"""A big run's task instances created in short transactions (ADR 0018): all of them, each once,
and a scheduler that started the run halfway through is never misled by the missing ones."""

from __future__ import annotations

from airlock.db import DagRun
from airlock.models.states import DagRunState, DagRunType
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import create_dag_run, create_task_instances_in_batches, schedule_run

from .conftest import T0, Env, make_dag, task

TASKS = [task(f"t{i:03d}") for i in range(25)] + [task("last", ["t000"])]


def _run_alone(env: Env) -> DagRun:
    """A committed run of ``wide`` without its task instances, as a big trigger starts."""
    env.install(make_dag("wide", TASKS))
    with env.sessions() as session:
        run = create_dag_run(
            session,
            "wide",
            run_type=DagRunType.MANUAL,
            dag_cache=env.cache,
            now=T0,
            task_instances=False,
        )
        session.commit()
    assert env.states(run) == {}
    return run


def test_batches_create_every_task_instance_once(env: Env) -> None:
    run = _run_alone(env)
    with env.sessions() as session:
        create_task_instances_in_batches(session, run, env.cache, T0, batch=7)
        schedule_run(session, run, env.cache, T0)
        session.commit()
    states = env.states(run)
    assert len(states) == len(TASKS)
    assert states["last"] is None
    assert {states[f"t{i:03d}"] for i in range(25)} <= {TIS.SCHEDULED, TIS.QUEUED}
    assert env.run_state(run) is DagRunState.RUNNING


def test_a_run_scheduled_before_its_batches_ended_gets_every_task_once(env: Env) -> None:
    run = _run_alone(env)
    # A scheduler's pass between the run's commit and its batches creates what the run lacks.
    env.schedule(run)
    decided = env.states(run)
    assert len(decided) == len(TASKS)
    assert env.run_state(run) is DagRunState.RUNNING
    with env.sessions() as session:
        create_task_instances_in_batches(session, run, env.cache, T0, batch=7)
    assert env.states(run) == decided
