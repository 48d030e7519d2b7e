"""A migrated database (SQLite file and PostgreSQL), DAGs installed as the Internal API would leave
them (a Dag row and a version with a real compressed blob), and the start and end of tasks as the
Execution API applies them, so tests can drive runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from airlock.db import (
    DagRun,
    TaskInstance,
)
from airlock.models.execution import TaskFailed, TaskOutcome, TaskSucceeded
from airlock.models.states import DagRunState, DagRunType
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import (
    TaskEnd,
    create_dag_run,
    finish_task,
    finish_tasks,
    schedule_run,
)
from airlock.scheduling.starting import start_task
from tests.support.dags import make_dag, task  # noqa: F401 (the test modules import them here)
from tests.support.databases import DbEnv

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


class Env(DbEnv):
    def trigger(self, dag_id: str, now: dt.datetime = T0, **options: Any) -> DagRun:
        """Create a manual run and schedule it at once, as the Web API does."""
        with self.sessions() as session:
            run = create_dag_run(
                session,
                dag_id,
                run_type=options.pop("run_type", DagRunType.MANUAL),
                dag_cache=self.cache,
                now=now,
                **options,
            )
            schedule_run(session, run, self.cache, now)
            session.commit()
            return run

    def schedule(self, run: DagRun, now: dt.datetime = T0, **options: Any) -> Any:
        with self.sessions() as session:
            result = schedule_run(
                session, session.get_one(DagRun, run.id), self.cache, now, **options
            )
            session.commit()
            return result

    def states(self, run: DagRun) -> dict[str, TIS | None]:
        """``task_id`` (``task_id[i]`` for a mapped index) → state."""
        with self.sessions() as session:
            rows = session.execute(
                select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state).where(
                    TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id
                )
            ).all()
        return {(t if m < 0 else f"{t}[{m}]"): s for t, m, s in rows}

    def run_state(self, run: DagRun) -> DagRunState:
        with self.sessions() as session:
            return session.get_one(DagRun, run.id).state

    def ti(self, run: DagRun, task_id: str, map_index: int = -1) -> TaskInstance:
        with self.sessions() as session:
            ti = session.scalar(
                select(TaskInstance).where(
                    TaskInstance.dag_id == run.dag_id,
                    TaskInstance.run_id == run.run_id,
                    TaskInstance.task_id == task_id,
                    TaskInstance.map_index == map_index,
                )
            )
            assert ti is not None, f"no task instance {task_id}[{map_index}]"
            return ti

    def ti_by_id(self, ti_id: str) -> TaskInstance:
        with self.sessions() as session:
            return session.get_one(TaskInstance, ti_id)

    def start(self, ti_id: str, now: dt.datetime = T0) -> None:
        """Start a queued task as the Execution API's start endpoint does."""
        with self.sessions() as session:
            started = start_task(session.connection(), ti_id, "test-host", 1, now, now)
            assert started is not None, f"task instance {ti_id} was not queued"
            session.commit()

    def finish(self, ti_id: str, outcome: TaskOutcome, now: dt.datetime = T0) -> TIS:
        """As the Execution API ends a task: a batch of one, keyed by the run its task token
        names (a task instance that does not exist goes by its id)."""
        with self.sessions() as session:
            key = session.execute(
                select(TaskInstance.dag_id, TaskInstance.run_id).where(TaskInstance.id == ti_id)
            ).one_or_none()
            if key is None:
                state = finish_task(session, ti_id, outcome, self.cache, now)
            else:
                (result,) = finish_tasks(
                    session, [TaskEnd(ti_id, outcome)], self.cache, now, run_key=tuple(key)
                )
                if isinstance(result, Exception):
                    raise result
                state = result
            session.commit()
            return state

    def queued(self, run: DagRun | None = None) -> list[TaskInstance]:
        with self.sessions() as session:
            query = select(TaskInstance).where(TaskInstance.state == TIS.QUEUED)
            if run is not None:
                query = query.where(
                    TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id
                )
            return list(
                session.scalars(query.order_by(TaskInstance.task_id, TaskInstance.map_index))
            )

    def work(
        self,
        run: DagRun,
        decide: Callable[[TaskInstance], TaskOutcome] | None = None,
        now: dt.datetime = T0,
        max_steps: int = 200,
    ) -> DagRunState:
        """Act as a worker: run every queued task (succeed unless ``decide`` says otherwise)
        until nothing of ``run`` is queued; the run's state then."""
        for _ in range(max_steps):
            queued = self.queued(run)
            if not queued:
                return self.run_state(run)
            for ti in queued:
                self.start(ti.id, now)
                outcome = decide(ti) if decide else TaskSucceeded(end_date=now)
                self.finish(ti.id, outcome, now)
        raise AssertionError("the run did not settle")


def succeed(now: dt.datetime = T0, **fields: Any) -> TaskSucceeded:
    return TaskSucceeded(end_date=now, **fields)


def fail(now: dt.datetime = T0, **fields: Any) -> TaskFailed:
    return TaskFailed(end_date=now, **fields)


@pytest.fixture
def env(db_url: str, migrated_sqlite_file: Path) -> Iterator[Env]:
    """Each test using this runs on SQLite and on PostgreSQL."""
    yield from Env.open(db_url, migrated_sqlite_file)


@pytest.fixture
def sqlite_env(sqlite_url: str, migrated_sqlite_file: Path) -> Iterator[Env]:
    yield from Env.open(sqlite_url, migrated_sqlite_file)
