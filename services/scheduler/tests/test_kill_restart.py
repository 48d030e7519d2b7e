"""SIGKILL a real ``airlock scheduler`` process mid-run, several times, and start it again: every
run still finishes, and no task instance succeeds twice (DESIGN §8).

The DAG needs the scheduler all along: its runs are created by the schedule (catch-up, more
than ``max_active_runs``), its first task fails once and is retried after a delay, and its middle
tasks share a one-slot pool across runs. A worker stand-in in this process takes queued tasks and
ends them with ``finish_task`` while the scheduler process is killed and restarted around it.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from airlock.db import ComponentHeartbeat, Pool, TaskInstance, TaskInstanceHistory
from airlock.models.dag import DeltaSchedule
from airlock.models.execution import TaskFailed, TaskSucceeded
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import StateConflict

from .conftest import Env, make_dag, task, utcnow

pytestmark = pytest.mark.slow


def _start_scheduler(env: Env, home: Path) -> subprocess.Popen[bytes]:
    environ = {
        key: value for key, value in os.environ.items() if not key.startswith("AIRLOCK_")
    } | {
        "AIRLOCK_HOME": str(home),
        "AIRLOCK_DATABASE__URL": env.url,
        "AIRLOCK_SCHEDULER__LOOP_INTERVAL_S": "0.3",
        "AIRLOCK_LOGGING__LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "airlock.cli", "scheduler"],
        env=environ,
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=(home / "scheduler.log").open("ab"),
    )


def _wait_until_scheduling(env: Env, process: subprocess.Popen[bytes]) -> None:
    """Until this scheduler process heartbeats: it is past start-up, inside its loop."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with env.sessions() as session:
            row = session.get(ComponentHeartbeat, ("scheduler", "scheduler"))
        if row is not None and row.info.get("pid") == process.pid:
            return
        if process.poll() is not None:
            raise AssertionError(f"the scheduler exited with {process.returncode}")
        time.sleep(0.05)
    raise AssertionError("the scheduler process did not start its loop")


class Worker(threading.Thread):
    """Takes queued tasks and ends them; fails each run's first try of ``extract`` once."""

    def __init__(self, env: Env) -> None:
        super().__init__(daemon=True)
        self.env = env
        self.stop = threading.Event()
        self.successes: collections.Counter[str] = collections.Counter()
        self.conflicts: list[str] = []
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                started = self.env.take(limit=4)
                if not started:
                    time.sleep(0.02)
                    continue
                time.sleep(0.03)
                for ti_id in started:
                    self._end(ti_id)
        except BaseException as exc:
            self.errors.append(exc)

    def _end(self, ti_id: str) -> None:
        with self.env.sessions() as session:
            ti = session.get_one(TaskInstance, ti_id)
            first_extract = ti.task_id == "extract" and ti.try_number == 1
        outcome = (
            TaskFailed(end_date=utcnow(), error="flaky")
            if first_extract
            else TaskSucceeded(end_date=utcnow())
        )
        try:
            if self.env.finish(ti_id, outcome) is TIS.SUCCESS:
                self.successes[ti_id] += 1
        except StateConflict as exc:
            self.conflicts.append(str(exc))


def test_a_killed_scheduler_restarts_and_every_run_finishes_once(env: Env, tmp_path: Path) -> None:
    with env.sessions() as session:
        session.add(Pool(name="narrow", slots=1))
        session.commit()
    env.install(
        make_dag(
            "resilient",
            [
                task("extract", retries=1, retry_delay=0.3),
                *[task(f"load{i}", ["extract"], pool="narrow") for i in range(3)],
                task("report", [f"load{i}" for i in range(3)]),
            ],
            # Three runs are due at once; the fourth only 100 s after the test starts, however
            # slowly a loaded machine runs it.
            schedule=DeltaSchedule(seconds=600),
            start_date=utcnow().replace(microsecond=0) - dt.timedelta(seconds=1700),
            catchup=True,
            max_active_runs=2,
        )
    )
    worker = Worker(env)
    worker.start()
    rng = random.Random(4)
    process = _start_scheduler(env, tmp_path)
    try:
        for _ in range(2):
            _wait_until_scheduling(env, process)
            time.sleep(rng.uniform(0.1, 0.6))
            runs = env.runs("resilient")
            assert len(runs) < 3 or any(r.state is not DagRunState.SUCCESS for r in runs)
            process.send_signal(signal.SIGKILL)
            process.wait(5)
            process = _start_scheduler(env, tmp_path)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            runs = env.runs("resilient")
            if len(runs) == 3 and all(r.state is DagRunState.SUCCESS for r in runs):
                break
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        worker.stop.set()
        worker.join(10)
    log = (tmp_path / "scheduler.log").read_text()
    runs = env.runs("resilient")
    assert [r.state for r in runs] == [DagRunState.SUCCESS] * 3, log
    assert worker.errors == []
    assert worker.conflicts == []
    with env.sessions() as session:
        tis = session.scalars(select(TaskInstance)).all()
        assert len(tis) == 15
        assert all(ti.state is TIS.SUCCESS for ti in tis)
        per_ti = dict(
            session.execute(
                select(TaskInstanceHistory.task_instance_id, func.count())
                .where(TaskInstanceHistory.state == TIS.SUCCESS)
                .group_by(TaskInstanceHistory.task_instance_id)
            ).all()
        )
    assert per_ti == {ti.id: 1 for ti in tis}
    assert worker.successes == collections.Counter({ti.id: 1 for ti in tis})
    assert process.returncode == 0, log  # SIGTERM: a clean exit
