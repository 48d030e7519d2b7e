"""Triggerers as real processes against a real Internal API: failover and fencing.

Deferred task instances are set up in the database as the Execution API leaves them (deferred,
with their trigger rows); the triggers come from a bundle module (``waits.Until``) whose event
names the triggerer that ran it and whose ``cleanup()`` leaves a marker file naming its runner's
parent. With a 3 s lease:

- SIGKILL a triggerer holding 500 triggers while a second one runs: the second takes them all
  within the lease (plus its poll), and every task resumes exactly once;
- SIGSTOP a triggerer (and its runner) past its lease, then SIGCONT: its late events are refused,
  no task resumes twice, and it runs no ``cleanup()`` on the triggers that moved;
- clearing a deferred task cancels its trigger, and ``cleanup()`` runs;
- a trigger that blocks the event loop is named in the triggerer's log.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from sqlalchemy import select, update

from airlock.core.tokens import TokenKind
from airlock.db import TaskInstance, Trigger, make_engine, make_session_factory
from airlock.models.execution import TaskDeferred
from airlock.models.states import DagRunType
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import DagCache, clear_task_instances, create_dag_run
from airlock.scheduling.triggers import store_trigger
from tests.support.dags import install_dag, make_dag, task
from tests.support.processes import ApiServer, Home, make_home, start_api, stop

LEASE_S = 3.0

WAITS = """
import asyncio, os, time
from datetime import datetime
from pathlib import Path
from airlock.sdk import BaseTrigger, TriggerEvent

class Until(BaseTrigger):
    def __init__(self, moment, name, marks, block=0.0):
        self.moment, self.name, self.marks, self.block = moment, name, marks, block

    def serialize(self):
        return "waits.Until", {"moment": self.moment, "name": self.name, "marks": self.marks,
                               "block": self.block}

    async def run(self):
        if self.block:
            time.sleep(self.block)
        left = datetime.fromisoformat(self.moment).timestamp() - time.time()
        if left > 0:
            await asyncio.sleep(left)
        yield TriggerEvent({"by": os.getppid(), "name": self.name})

    async def cleanup(self):
        Path(self.marks, f"{self.name}.{os.getppid()}").touch()
"""


@dataclass
class Setup:
    home: Home
    api: ApiServer
    bundle: Path
    marks: Path
    base: Path

    def sessions(self):  # type: ignore[no-untyped-def]
        return make_session_factory(make_engine(self.home.db_url))

    def defer(self, dag_id: str, count: int, moment: dt.datetime, block: float = 0.0) -> list[str]:
        """``count`` task instances of a new DAG, deferred on ``waits.Until(moment)``."""
        now = dt.datetime.now(dt.UTC)
        sessions = self.sessions()
        with sessions() as session:
            install_dag(
                session, make_dag(dag_id, [task(f"t{i}") for i in range(count)]), bundle="b1"
            )
            run = create_dag_run(session, dag_id, run_type=DagRunType.MANUAL, dag_cache=DagCache())
            session.flush()
            ids = list(
                session.scalars(select(TaskInstance.id).where(TaskInstance.dag_id == dag_id))
            )
            session.execute(
                update(TaskInstance)
                .where(TaskInstance.id.in_(ids))
                .values(state=TIS.DEFERRED, try_number=1, next_method="done", start_date=now)
            )
            for ti_id in ids:
                kwargs = {"moment": moment.isoformat(), "name": ti_id, "marks": str(self.marks)}
                if block:
                    kwargs["block"] = block
                store_trigger(
                    session,
                    ti_id,
                    TaskDeferred(trigger_classpath="waits.Until", trigger_kwargs=kwargs),
                    now,
                )
            session.commit()
            assert run.id
        return ids

    def rows(self, ids: list[str]) -> list[TaskInstance]:
        with self.sessions()() as session:
            return list(session.scalars(select(TaskInstance).where(TaskInstance.id.in_(ids))))

    def holders(self, ids: list[str]) -> list[str | None]:
        with self.sessions()() as session:
            return list(
                session.scalars(select(Trigger.triggerer).where(Trigger.task_instance_id.in_(ids)))
            )

    def triggerer(self, name: str) -> subprocess.Popen[bytes]:
        token = self.home.token(TokenKind.SERVICE, "trig", 3600, role="triggerer", bundles=["b1"])
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
        env.update(
            {
                "AIRLOCK_HOME": str(self.base / f"home-{name}"),
                "AIRLOCK_ZONE": "processing",
                "AIRLOCK_TRIGGERER__API_URL": self.api.url,
                "AIRLOCK_TRIGGERER__TOKEN": token,
                "AIRLOCK_TRIGGERER__BUNDLES": f"b1={self.bundle}",
                "AIRLOCK_TRIGGERER__POLL_S": "0.5",
                # The triggers' marks: the one folder confined trigger code may write to.
                "AIRLOCK_TRIGGERER__TEMP_FOLDER": str(self.marks),
            }
        )
        log = (self.base / f"triggerer-{name}.log").open("wb")
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "airlock.cli",
                "triggerer",
                "--name",
                name,
                "--capacity",
                "1000",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def log(self, name: str) -> str:
        return (self.base / f"triggerer-{name}.log").read_text(errors="replace")


@pytest.fixture
def setup(tmp_path: Path, sqlite_url: str) -> Iterator[Setup]:
    home = make_home(tmp_path / "home", sqlite_url)
    api = start_api(home, "internal", {"AIRLOCK_INTERNAL__TRIGGER_LEASE_S": str(LEASE_S)})
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "waits.py").write_text(textwrap.dedent(WAITS))
    marks = tmp_path / "marks"
    marks.mkdir()
    try:
        yield Setup(home, api, bundle, marks, tmp_path)
    finally:
        stop(api)


def _wait_for(condition, timeout_s: float, what: str) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")


def _resumed_by(setup: Setup, ids: list[str]) -> dict[str, int]:
    rows = setup.rows(ids)
    return {r.id: r.next_kwargs["event"]["by"] for r in rows if r.state is TIS.SCHEDULED}


def _end(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.slow
def test_a_killed_triggerers_triggers_move_and_resume_exactly_once(setup: Setup) -> None:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=25)
    ids = setup.defer("many", 500, moment)
    first = setup.triggerer("a")
    second = None
    try:
        _wait_for(lambda: setup.holders(ids) == ["trig/a"] * 500, 30, "a leasing all 500")
        second = setup.triggerer("b")
        time.sleep(2)  # b runs, with nothing to lease
        assert set(setup.holders(ids)) == {"trig/a"}
        for process in psutil.Process(first.pid).children(recursive=True):
            process.kill()
        first.kill()
        failover = _wait_for(
            lambda: set(setup.holders(ids)) == {"trig/b"}, 3 * LEASE_S + 5, "failover"
        )
        assert failover <= LEASE_S + 2.0, f"failover took {failover:.1f} s"
        _wait_for(lambda: len(_resumed_by(setup, ids)) == 500, 60, "all 500 resuming")
        assert set(_resumed_by(setup, ids).values()) == {second.pid}
        rows = setup.rows(ids)
        assert all(r.next_kwargs["event"]["name"] == r.id for r in rows)
        with setup.sessions()() as session:
            fired = session.scalars(
                select(Trigger.fired_at).where(Trigger.task_instance_id.in_(ids))
            )
            assert all(f is not None for f in fired)
    finally:
        _end(first, *([second] if second else []))


@pytest.mark.slow
def test_a_paused_triggerer_is_fenced_off_and_cleans_up_nothing_it_lost(setup: Setup) -> None:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=8)
    ids = setup.defer("paused", 20, moment)
    first = setup.triggerer("a")
    second = None
    try:
        _wait_for(lambda: setup.holders(ids) == ["trig/a"] * 20, 30, "a leasing all 20")
        paused = [psutil.Process(first.pid), *psutil.Process(first.pid).children(recursive=True)]
        for process in paused:
            process.send_signal(signal.SIGSTOP)
        second = setup.triggerer("b")
        _wait_for(lambda: len(_resumed_by(setup, ids)) == 20, 40, "b resuming all 20")
        for process in paused:
            process.send_signal(signal.SIGCONT)
        time.sleep(LEASE_S + 2)  # a wakes up, fires its stale copies, heartbeats
        assert set(_resumed_by(setup, ids).values()) == {second.pid}  # no second resume
        cleaned = {p.name.rsplit(".", 1)[1] for p in setup.marks.iterdir()}
        assert cleaned == {str(second.pid)}, "a cleaned up triggers that moved to b"
        assert "moved elsewhere" in setup.log("a") or "dropped" in setup.log("a")
    finally:
        _end(first, *([second] if second else []))


@pytest.mark.slow
def test_clearing_a_deferred_task_cancels_its_trigger_and_cleans_it_up(setup: Setup) -> None:
    far = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    (ti_id,) = setup.defer("cleared", 1, far)
    triggerer = setup.triggerer("a")
    try:
        _wait_for(lambda: setup.holders([ti_id]) == ["trig/a"], 30, "a leasing the trigger")
        with setup.sessions()() as session:
            ti = session.get_one(TaskInstance, ti_id)
            clear_task_instances(session, ti.dag_id, ti.run_id, DagCache(), dt.datetime.now(dt.UTC))
            session.commit()
        marker = setup.marks / f"{ti_id}.{triggerer.pid}"
        _wait_for(marker.exists, LEASE_S + 5, "cleanup after the clear")
        assert "was cancelled" in setup.log("a")
    finally:
        _end(triggerer)


@pytest.mark.slow
def test_a_blocking_trigger_is_named_and_the_others_still_fire(setup: Setup) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    (blocker,) = setup.defer("blocker", 1, soon, block=0.6)
    others = setup.defer("others", 5, soon)
    triggerer = setup.triggerer("a")
    try:
        _wait_for(lambda: len(_resumed_by(setup, [blocker, *others])) == 6, 30, "all firing")
        _wait_for(lambda: "blocked the event loop" in setup.log("a"), 10, "the blocked log line")
        line = next(s for s in setup.log("a").splitlines() if "blocked the event loop" in s)
        assert "dag blocker" in line
        assert "task t0" in line
        assert "waits.Until" in line
        assert "blocked_loops=1" in line
        seconds = float(line.split(" for ")[1].split(" s")[0])
        assert seconds >= 0.6
    finally:
        _end(triggerer)
