"""Faults during a run, with real processes: the API SIGKILLed at random moments (and, on
PostgreSQL, every DB connection terminated) while a worker runs 200-task DAG runs.

What must hold: every run succeeds and every task ran once, on its first try (the tasks have no
retries): a task handed out by an API that died before its reply reached the worker, or whose
connection broke after the start committed, goes back to the queue uncounted
(``airlock.scheduling.handout``) instead of failing at the heartbeat timeout.

The suite makes a few rounds; ``just chaos ROUNDS`` runs the long series
(``AIRLOCK_TEST_CHAOS_ROUNDS``).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text

from airlock.core.tokens import TokenKind
from airlock.db import DagRun, TaskInstance
from airlock.db.database import Database
from airlock.models.states import DagRunState, TaskInstanceState
from tests.support.processes import ApiServer, Home, free_port, make_home, start_api

pytestmark = pytest.mark.slow

ROUNDS = int(os.environ.get("AIRLOCK_TEST_CHAOS_ROUNDS", "3"))
TASKS = 200
DAG_ID = "chaos"
#: Short, so a round finds the worker between polls, starts and reports.
CONFIRM_S = "2"


def dag_file() -> str:
    tasks = "\n".join(
        f"    @task\n    def t{i:03d}():\n        time.sleep(0.05)\n    t{i:03d}()\n"
        for i in range(TASKS)
    )
    return (
        "import time\nfrom airlock.sdk import dag, task\n\n\n"
        f"@dag(schedule=None)\ndef {DAG_ID}():\n{tasks}\n\n{DAG_ID}()\n"
    )


@dataclass
class Stack:
    """An API, a scheduler and a worker, as separate processes on one home."""

    home: Home
    folder: Path
    port: int
    db: Database
    api: ApiServer | None = None
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_api(self) -> None:
        self.api = start_api(self.home, "web,execution,internal", port=self.port)

    def kill_api(self) -> None:
        assert self.api is not None
        self.api.process.send_signal(signal.SIGKILL)
        self.api.process.wait()

    def spawn(self, name: str, *args: str, env: dict[str, str]) -> None:
        with (self.home.path / f"{name}.log").open("ab") as output:
            self.others.append(
                subprocess.Popen(
                    [sys.executable, "-m", "airlock.cli", *args],
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )

    def upload(self) -> None:
        token = self.home.token(
            TokenKind.SERVICE, "dag-processor", role="dag-processor", bundles=["chaos"]
        )
        result = subprocess.run(
            [sys.executable, "-m", "airlock.cli", "dag-processor", "--bundle", "chaos", "--once"],
            env={
                **self.home.zone_env("processing"),
                "AIRLOCK_DAG_PROCESSOR__API_URL": self.url,
                "AIRLOCK_DAG_PROCESSOR__TOKEN": token,
                "AIRLOCK_DAG_PROCESSOR__BUNDLES": f"chaos={self.folder}",
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr

    def trigger(self) -> None:
        """A new run through the Web API (retried while the API restarts)."""
        token = self.home.token(TokenKind.USER, "chaos-admin", roles=["admin"])
        deadline = time.monotonic() + 60
        run_id = f"chaos_{len(self.runs)}"
        while True:
            try:
                answer = httpx.post(
                    f"{self.url}/api/v1/dags/{DAG_ID}/dagRuns",
                    json={"run_id": run_id},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=10,
                )
                if answer.status_code in (200, 201, 409):  # 409: the lost reply's run exists
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the run could not be triggered"
            time.sleep(0.5)
        self.runs.append(run_id)

    def unfinished(self) -> int:
        with self.db.sessions() as session:
            return (
                session.scalar(
                    select(func.count()).where(
                        DagRun.dag_id == DAG_ID,
                        DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING]),
                    )
                )
                or 0
            )

    def terminate_connections(self) -> int:
        """Every other connection to the database, as ``pg_terminate_backend`` does."""
        with self.db.engine.connect() as connection:
            killed = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
            connection.commit()
        return int(killed)

    def stop(self) -> str:
        for process in self.others:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.others:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.api is not None and self.api.process.poll() is None:
            self.api.process.terminate()
            self.api.process.wait(15)
        self.db.close()
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}"
            for log in sorted(self.home.path.glob("*.log"))
        )


@pytest.fixture
def stack(db_url: str, tmp_path: Path) -> Iterator[Stack]:
    home = make_home(tmp_path / "home", db_url)
    home.env["AIRLOCK_EXECUTION__START_CONFIRM_S"] = CONFIRM_S
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / f"{DAG_ID}.py").write_text(dag_file())
    stack = Stack(home, folder, free_port(), Database(db_url))
    stack.start_api()
    stack.upload()
    stack.spawn("scheduler", "scheduler", env=home.env)
    worker_env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
    worker_env.update(
        {
            "AIRLOCK_HOME": str(home.path / "worker-home"),
            "AIRLOCK_ZONE": "execution",
            "AIRLOCK_WORKER__API_URL": stack.url,
            "AIRLOCK_WORKER__TOKEN": home.token(TokenKind.WORKER, "chaos-worker"),
            "AIRLOCK_WORKER__BUNDLES": f"chaos={folder}",
        }
    )
    stack.spawn("worker", "worker", "--concurrency", "16", env=worker_env)
    try:
        yield stack
    finally:
        print(stack.stop())


def test_no_task_is_lost_or_failed_when_the_api_and_db_connections_die(stack: Stack) -> None:
    postgres = stack.db.engine.dialect.name == "postgresql"
    chance = random.Random()
    stack.trigger()
    terminated = 0
    for round_ in range(ROUNDS):
        if not stack.unfinished():
            stack.trigger()
        # A random moment of the run, once the API has served a while (the worker's heartbeats
        # and reports must get through now and then: one silent for 60 s is failed).
        time.sleep(chance.uniform(0.5, 3.0))
        if postgres and round_ % 2 == 1:
            terminated += stack.terminate_connections()
            time.sleep(chance.uniform(0.0, 0.5))
        stack.kill_api()
        stack.start_api()
    deadline = time.monotonic() + 120 + 5 * ROUNDS
    while stack.unfinished() and time.monotonic() < deadline:
        time.sleep(0.5)
    with stack.db.sessions() as session:
        runs = dict(
            session.execute(
                select(DagRun.run_id, DagRun.state).where(DagRun.dag_id == DAG_ID)
            ).all()
        )
        tis = session.execute(
            select(
                TaskInstance.run_id,
                TaskInstance.task_id,
                TaskInstance.state,
                TaskInstance.try_number,
            ).where(TaskInstance.dag_id == DAG_ID)
        ).all()
    assert sorted(runs) == sorted(stack.runs)
    assert set(runs.values()) == {DagRunState.SUCCESS}, runs
    assert len(tis) == TASKS * len(stack.runs)
    bad = [ti for ti in tis if ti.state is not TaskInstanceState.SUCCESS or ti.try_number != 1]
    assert bad == []
    if postgres and ROUNDS > 1:
        assert terminated > 0
