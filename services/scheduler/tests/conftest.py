"""A migrated database with DAGs installed as the Internal API stores them, and a stand-in worker
that takes queued tasks with the Execution API's hand-out and ends them with
``finish_task`` (the Execution API's own call)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from airlock.db import (
    Dag,
    DagRun,
)
from airlock.models.execution import TaskOutcome, TaskSucceeded
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import finish_task
from airlock.scheduling.handout import StartAs, claim_task_instances, take_claimed
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
        """Claim queued tasks and start them, as the Execution API's hand-out does."""
        with self.sessions() as session:
            now = utcnow()
            claims = claim_task_instances(session, worker, ["default"], limit, now, 3600.0)
            handed = take_claimed(session, claims, StartAs(len(claims), worker, 1), now)
            session.commit()
        return [h.claim.task_try.ti_id for h in handed if h.started is not None]

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
