"""The real Execution API app on a real, migrated database (SQLite file and PostgreSQL), with keys
in a throwaway AIRLOCK_HOME, driven in-process through Litestar's test client.

Runs and task instances are set up by inserting rows, as the scheduler would leave them: a DAG
with a real compressed blob, a run, and task instances in the state a test needs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing.transport import TestClientTransport
from sqlalchemy import select

from airlock.core.secrets_key import read_secrets_keys
from airlock.core.tokens import TokenKind
from airlock.db import Dag, DagRun, SecretBox, TaskInstance
from airlock.execution.app import create_app
from airlock.models.dag import SerializedDag, SerializedTask
from airlock.models.states import DagRunState, DagRunType, TaskInstanceState
from airlock.sdk.api import ExecutionClient
from tests.support.apps import ApiEnv, api_settings
from tests.support.dags import install_dag, task


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class ExecEnv(ApiEnv):
    _versions: dict[str, int] = field(default_factory=dict)

    # --- tokens ------------------------------------------------------------------------------

    def worker_token(self, name: str = "w1", **claims: Any) -> str:
        return self.signer.issue(TokenKind.WORKER, name, 600, **claims)

    def task_token(self, ti_id: str, ttl_s: int = 600, **claims: Any) -> str:
        with self.session() as session:
            ti = session.get(TaskInstance, ti_id)
            assert ti is not None
            dag = session.get(Dag, ti.dag_id)
            assert dag is not None
            bound = {"dag_id": ti.dag_id, "run_id": ti.run_id, "bundle": dag.bundle_name}
        return self.signer.issue(TokenKind.TASK, ti_id, ttl_s, **(bound | claims))

    def transport(self) -> httpx.BaseTransport:
        """An httpx transport into this app, in-process (no socket)."""
        return TestClientTransport(self.client)  # type: ignore[return-value]

    def sdk(self, token: str, **options: Any) -> ExecutionClient:
        """The SDK client against this app."""
        return ExecutionClient("http://testserver", token, transport=self.transport(), **options)

    def call(
        self, method: str, path: str, token: str, json: Any = None, **options: Any
    ) -> httpx.Response:
        """One request to the app with ``token`` as bearer."""
        headers = {"Authorization": f"Bearer {token}"}
        return self.client.request(
            method, f"/execution{path}", json=json, headers=headers, **options
        )

    # --- rows ----------------------------------------------------------------------------------

    def secret_box(self) -> SecretBox:
        return SecretBox(read_secrets_keys(self.settings.secrets_key_path))

    def add_dag(
        self,
        dag_id: str,
        bundle: str = "team-a",
        tasks: list[SerializedTask] | None = None,
    ) -> int:
        """A DAG with one version whose blob is a real serialized DAG; its version id."""
        tasks = tasks if tasks is not None else [task("t1")]
        dag = SerializedDag(dag_id=dag_id, relative_fileloc=f"{dag_id}.py", tasks=tasks)
        with self.session() as session:
            version_id = install_dag(session, dag, bundle=bundle, folder=f"/bundles/{bundle}")
        self._versions[dag_id] = version_id
        return version_id

    def add_run(
        self,
        dag_id: str,
        run_id: str = "manual__1",
        *,
        run_after: dt.datetime | None = None,
        state: DagRunState = DagRunState.RUNNING,
        conf: dict[str, Any] | None = None,
    ) -> None:
        with self.session() as session:
            session.add(
                DagRun(
                    dag_id=dag_id,
                    run_id=run_id,
                    dag_version_id=self._versions[dag_id],
                    run_after=run_after or utcnow(),
                    run_type=DagRunType.MANUAL,
                    state=state,
                    conf=conf or {},
                )
            )
            session.commit()

    def add_ti(
        self,
        dag_id: str,
        task_id: str = "t1",
        run_id: str = "manual__1",
        *,
        state: TaskInstanceState | None = TaskInstanceState.QUEUED,
        queue: str = "default",
        priority_weight: int = 1,
        map_index: int = -1,
        queued_at: dt.datetime | None = None,
        **values: Any,
    ) -> str:
        with self.session() as session:
            ti = TaskInstance(
                dag_id=dag_id,
                run_id=run_id,
                task_id=task_id,
                map_index=map_index,
                state=state,
                queue=queue,
                priority_weight=priority_weight,
                dag_version_id=self._versions[dag_id],
                queued_at=queued_at or utcnow(),
                **values,
            )
            session.add(ti)
            session.commit()
            return ti.id

    def ti(self, ti_id: str) -> TaskInstance:
        with self.session() as session:
            return session.get_one(TaskInstance, ti_id)

    def rows(self, model: Any, **where: Any) -> list[Any]:
        with self.session() as session:
            return list(session.scalars(select(model).filter_by(**where)))

    def set_state(self, ti_id: str, state: TaskInstanceState, **values: Any) -> None:
        with self.session() as session:
            ti = session.get_one(TaskInstance, ti_id)
            ti.state = state
            for name, value in values.items():
                setattr(ti, name, value)
            session.commit()


@pytest.fixture
def env_options() -> dict[str, str]:
    """``[execution]`` settings for the app under test; override per module or test."""
    return {}


@pytest.fixture
def env(
    db_url: str, tmp_path: Path, migrated_sqlite_file: Path, env_options: dict[str, str]
) -> Iterator[ExecEnv]:
    execution = {f"AIRLOCK_EXECUTION__{k.upper()}": v for k, v in env_options.items()}
    settings = api_settings(db_url, tmp_path / "home", migrated_sqlite_file, **execution)
    yield from ExecEnv.open(db_url, settings, create_app)
