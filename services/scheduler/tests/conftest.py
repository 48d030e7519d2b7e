"""A migrated database with DAGs installed as the Internal API stores them, and a stand-in worker
that takes queued tasks with the Execution API's hand-out and ends them with
``finish_task`` (the Execution API's own call)."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from airlock.db import (
    Bundle,
    Dag,
    DagRun,
    DagVersion,
    make_engine,
    make_session_factory,
    upgrade,
)
from airlock.models.codec import encode_and_compress
from airlock.models.dag import SerializedDag, SerializedTask
from airlock.models.execution import TaskOutcome, TaskSucceeded
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import DagCache, finish_task
from airlock.scheduling.handout import StartAs, claim_task_instances, take_claimed


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def task(task_id: str, upstream: tuple[str, ...] | list[str] = (), **fields: Any) -> SerializedTask:
    fields.setdefault("operator_class", "airlock.sdk.operators.python.PythonOperator")
    fields.setdefault("operator_name", "@task")
    return SerializedTask(task_id=task_id, upstream=sorted(upstream), **fields)


def make_dag(dag_id: str, tasks: list[SerializedTask], **fields: Any) -> SerializedDag:
    downstream: dict[str, list[str]] = {t.task_id: [] for t in tasks}
    for t in tasks:
        for up in t.upstream:
            downstream[up].append(t.task_id)
    linked = [msgspec.structs.replace(t, downstream=sorted(downstream[t.task_id])) for t in tasks]
    return SerializedDag(dag_id=dag_id, relative_fileloc=f"{dag_id}.py", tasks=linked, **fields)


@dataclass
class Env:
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    cache: DagCache

    def install(self, dag: SerializedDag, *, paused: bool = False) -> int:
        blob, content_hash = encode_and_compress(dag)
        with self.sessions() as session:
            if session.get(Bundle, "local") is None:
                session.add(Bundle(name="local"))
            row = Dag(
                dag_id=dag.dag_id,
                bundle_name="local",
                fileloc=f"/local/{dag.dag_id}.py",
                relative_fileloc=f"{dag.dag_id}.py",
                is_paused=paused,
                max_active_runs=dag.max_active_runs,
                max_active_tasks=dag.max_active_tasks,
                catchup=dag.catchup,
            )
            session.add(row)
            session.flush()
            version = DagVersion(
                dag_id=dag.dag_id,
                version_number=1,
                content_hash=content_hash,
                blob=blob,
                blob_size=len(blob),
                decompressed_size=0,
                bundle_name="local",
            )
            session.add(version)
            session.flush()
            row.latest_version_id = version.id
            session.commit()
            return version.id

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


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "airlock.db"
    upgrade(f"sqlite:///{path}")
    return path


def _env(url: str, template: Path) -> Iterator[Env]:
    if url.startswith("sqlite:///"):
        shutil.copyfile(template, url.removeprefix("sqlite:///"))
    else:
        upgrade(url)
    engine = make_engine(url)
    try:
        yield Env(url, engine, make_session_factory(engine), DagCache())
    finally:
        engine.dispose()


@pytest.fixture
def env(db_url: str, migrated_sqlite_file: Path) -> Iterator[Env]:
    yield from _env(db_url, migrated_sqlite_file)


@pytest.fixture
def sqlite_env(sqlite_url: str, migrated_sqlite_file: Path) -> Iterator[Env]:
    yield from _env(sqlite_url, migrated_sqlite_file)
