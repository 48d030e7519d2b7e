"""A migrated database with DAGs installed as the Internal API stores them, and a stand-in worker
that takes queued tasks the way the Execution API hands them out and ends them with
``finish_task`` (the Execution API's own call)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import case, or_, select

from airlock.db import Dag, DagRun, TaskInstance, transition
from airlock.models.execution import TaskOutcome, TaskSucceeded
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import finish_task
from tests.support.dags import make_dag, task  # noqa: F401 (the test modules import them here)
from tests.support.databases import DbEnv


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Env(DbEnv):
    def runs(self, dag_id: str) -> list[DagRun]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.run_after)
                )
            )

    def dag(self, dag_id: str) -> Dag:
        with self.sessions() as session:
            return session.get_one(Dag, dag_id)

    def take(self, worker: str = "w1", limit: int = 100) -> list[str]:
        """Claim queued tasks and start them, as a worker does through the Execution API."""
        started = []
        with self.sessions() as session:
            ids = session.scalars(
                select(TaskInstance.id)
                .where(TaskInstance.state == TIS.QUEUED, TaskInstance.claimed_by.is_(None))
                .order_by(TaskInstance.priority_weight.desc(), TaskInstance.queued_at)
                .limit(limit)
            ).all()
            now = utcnow()
            new_try = or_(
                TaskInstance.try_number == 0,
                TaskInstance.next_method.is_(None) & TaskInstance.first_poke_at.is_(None),
            )
            for ti_id in ids:
                if transition(
                    session,
                    TaskInstance,
                    {"id": ti_id, "claimed_by": None},
                    TIS.QUEUED,
                    {
                        "state": TIS.RUNNING,
                        "claimed_by": worker,
                        "claimed_at": now,
                        "try_number": case(
                            (new_try, TaskInstance.try_number + 1),
                            else_=TaskInstance.try_number,
                        ),
                        "start_date": now,
                        "last_heartbeat_at": now,
                        "hostname": worker,
                    },
                ):
                    started.append(ti_id)
            session.commit()
        return started

    def finish(self, ti_id: str, outcome: TaskOutcome | None = None) -> TIS:
        with self.sessions() as session:
            state = finish_task(
                session, ti_id, outcome or TaskSucceeded(end_date=utcnow()), self.cache, utcnow()
            )
            session.commit()
            return state

    def work_all(self, decide: Callable[[str], TaskOutcome] | None = None) -> int:
        """Run every queued task once; how many ran."""
        ids = self.take()
        for ti_id in ids:
            self.finish(ti_id, decide(ti_id) if decide else None)
        return len(ids)


@pytest.fixture
def env(db_url: str, migrated_sqlite_file: Path) -> Iterator[Env]:
    yield from Env.open(db_url, migrated_sqlite_file)


@pytest.fixture
def sqlite_env(sqlite_url: str, migrated_sqlite_file: Path) -> Iterator[Env]:
    yield from Env.open(sqlite_url, migrated_sqlite_file)
