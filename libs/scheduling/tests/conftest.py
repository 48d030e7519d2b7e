"""A migrated database (SQLite file and PostgreSQL), DAGs installed as the Internal API would leave
them (a Dag row and a version with a real compressed blob), and the start and end of tasks as the
Execution API applies them, so tests can drive runs.
"""

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
    TaskInstance,
    make_engine,
    make_session_factory,
    upgrade,
)
from airlock.models.codec import encode_and_compress
from airlock.models.dag import SerializedDag, SerializedTask
from airlock.models.execution import TaskFailed, TaskOutcome, TaskSucceeded
from airlock.models.states import DagRunState, DagRunType
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import (
    DagCache,
    TaskEnd,
    create_dag_run,
    finish_task,
    finish_tasks,
    schedule_run,
)
from airlock.scheduling.starting import start_task

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def task(task_id: str, upstream: tuple[str, ...] | list[str] = (), **fields: Any) -> SerializedTask:
    """A task; ``downstream`` is filled in by :func:`make_dag`."""
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
    engine: Engine
    sessions: sessionmaker[Session]
    cache: DagCache
    url: str

    def install(self, dag: SerializedDag, *, bundle: str = "local", paused: bool = False) -> int:
        """Store ``dag`` as its DAG's newest version; the version id."""
        blob, content_hash = encode_and_compress(dag)
        with self.sessions() as session:
            if session.get(Bundle, bundle) is None:
                session.add(Bundle(name=bundle))
            row = session.get(Dag, dag.dag_id)
            if row is None:
                row = Dag(
                    dag_id=dag.dag_id,
                    bundle_name=bundle,
                    fileloc=f"/{bundle}/{dag.dag_id}.py",
                    relative_fileloc=f"{dag.dag_id}.py",
                )
                session.add(row)
            row.is_paused = paused
            row.max_active_runs = dag.max_active_runs
            row.max_active_tasks = dag.max_active_tasks
            row.catchup = dag.catchup
            session.flush()
            number = session.scalar(
                select(DagVersion.version_number)
                .where(DagVersion.dag_id == dag.dag_id)
                .order_by(DagVersion.version_number.desc())
            )
            version = DagVersion(
                dag_id=dag.dag_id,
                version_number=(number or 0) + 1,
                content_hash=content_hash,
                blob=blob,
                blob_size=len(blob),
                decompressed_size=0,
                bundle_name=bundle,
            )
            session.add(version)
            session.flush()
            row.latest_version_id = version.id
            session.commit()
            return version.id

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


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated with ``airlock.db.upgrade``; each test gets a fresh copy."""
    path = tmp_path_factory.mktemp("template") / "airlock.db"
    upgrade(f"sqlite:///{path}")
    return path


def _migrate(url: str, template: Path) -> None:
    if url.startswith("sqlite:///"):
        shutil.copyfile(template, url.removeprefix("sqlite:///"))
    else:
        upgrade(url)


@pytest.fixture
def env(db_url: str, migrated_sqlite_file: Path) -> Iterator[Env]:
    """Each test using this runs on SQLite and on PostgreSQL."""
    _migrate(db_url, migrated_sqlite_file)
    engine = make_engine(db_url)
    try:
        yield Env(engine, make_session_factory(engine), DagCache(), db_url)
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_env(sqlite_url: str, migrated_sqlite_file: Path) -> Iterator[Env]:
    _migrate(sqlite_url, migrated_sqlite_file)
    engine = make_engine(sqlite_url)
    try:
        yield Env(engine, make_session_factory(engine), DagCache(), sqlite_url)
    finally:
        engine.dispose()
