"""A big run's task instances created in short transactions (ADR 0018): all of them, each once,
and a scheduler that started the run halfway through is never misled by the missing ones; its
first pass written in turns, and handed to one full pass when the run changed between turns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from airlock.db import DagRun
from airlock.models.states import DagRunState, DagRunType
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import (
    create_dag_run,
    create_task_instances_in_batches,
    mark_task_instances,
    queue_scheduled,
    schedule_run,
    schedule_run_in_turns,
)

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


def _first_pass_in_turns(env: Env, run: DagRun) -> None:
    with env.sessions() as session:
        create_task_instances_in_batches(session, run, env.cache, T0, batch=7)
        schedule_run_in_turns(session, run, env.cache, T0, turn=4)
        session.commit()


def test_a_first_pass_in_turns_decides_as_one_pass(env: Env) -> None:
    run = _run_alone(env)
    with env.sessions() as session:
        create_task_instances_in_batches(session, run, env.cache, T0, batch=7)
        commits: list[object] = []

        def count(connection: object) -> None:
            commits.append(connection)

        event.listen(env.engine, "commit", count)
        try:
            schedule_run_in_turns(session, run, env.cache, T0, turn=4)
            session.commit()
        finally:
            event.remove(env.engine, "commit", count)
    assert len(commits) == 8  # 25 states 4 at a time, then the queueing
    in_turns = env.states(run)
    assert in_turns["last"] is None
    assert {in_turns[f"t{i:03d}"] for i in range(25)} <= {TIS.SCHEDULED, TIS.QUEUED}
    assert len(env.queued(run)) == 16  # the DAG's max_active_tasks
    assert env.run_state(run) is DagRunState.RUNNING


def _in_turns_with(env: Env, run: DagRun, between: Callable[[Session], object]) -> None:
    """The first pass in turns, with ``between`` done in a session of its own (committed) once
    the pass's first turn is written."""
    done: list[bool] = []
    looking: list[bool] = []  # the hook's own reads check connections in too

    def _after_first_turn(*_: Any) -> None:
        if done or looking:
            return
        looking.append(True)
        first_turn_written = TIS.SCHEDULED in env.states(run).values()
        looking.clear()
        if first_turn_written:
            done.append(True)
            with env.sessions() as session:
                between(session)
                session.commit()

    event.listen(env.engine, "checkin", _after_first_turn)
    try:
        _first_pass_in_turns(env, run)
    finally:
        event.remove(env.engine, "checkin", _after_first_turn)
    assert done


def test_a_task_marked_between_turns_is_seen_by_the_rest_of_the_pass(sqlite_env: Env) -> None:
    env = sqlite_env
    run = _run_alone(env)
    # An op marks t000 a success: the pass read t000 without a state and decided `last` must
    # wait, which no longer holds.
    later = T0 + dt.timedelta(seconds=1)
    _in_turns_with(
        env,
        run,
        lambda session: mark_task_instances(
            session, "wide", run.run_id, TIS.SUCCESS, env.cache, later, task_ids=["t000"]
        ),
    )
    states = env.states(run)
    assert states["t000"] is TIS.SUCCESS
    assert states["last"] in (TIS.SCHEDULED, TIS.QUEUED)
    assert {states[f"t{i:03d}"] for i in range(1, 25)} <= {TIS.SCHEDULED, TIS.QUEUED}


def test_instances_the_scheduler_queued_between_turns_count_against_the_run_limit(
    sqlite_env: Env,
) -> None:
    env = sqlite_env
    run = _run_alone(env)
    scheduler_queued: list[str] = []
    _in_turns_with(
        env, run, lambda session: scheduler_queued.extend(queue_scheduled(session, env.cache, T0))
    )
    assert scheduler_queued
    assert len(env.queued(run)) == 16  # the DAG's max_active_tasks, not more
