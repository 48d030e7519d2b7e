"""Two schedulers and several workers at once on one database: runs finish, every task instance
succeeds exactly once, no deadlock and no database error anywhere (DESIGN §6: several schedulers
may run against PostgreSQL; conditional updates keep SQLite's concurrent writers honest)."""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time

from sqlalchemy import select

from airlock.db import Pool, TaskInstance
from airlock.models.dag import DeltaSchedule
from airlock.models.states import DagRunState
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduler import Scheduler
from airlock.scheduling import DagCache

from .conftest import Env, make_dag, task, utcnow


def test_two_schedulers_and_four_workers(env: Env) -> None:
    with env.sessions() as session:
        session.add(Pool(name="p", slots=3))
        session.commit()
    env.install(
        make_dag(
            "busy",
            [
                task("start"),
                *[task(f"w{i}", ["start"], pool="p", priority_weight_total=i) for i in range(8)],
                task("join", [f"w{i}" for i in range(8)]),
            ],
            schedule=DeltaSchedule(seconds=60),
            start_date=utcnow() - dt.timedelta(seconds=230),
            catchup=True,
            max_active_runs=3,
        )
    )
    stop = threading.Event()
    errors: list[BaseException] = []
    successes: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def schedule(name: str) -> None:
        try:
            Scheduler(
                env.sessions, name=name, loop_interval_s=0.2, dag_cache=DagCache()
            ).run_forever(stop)
        except BaseException as exc:
            errors.append(exc)

    def work(name: str) -> None:
        try:
            while not stop.is_set():
                started = env.take(name, limit=2)
                if not started:
                    time.sleep(0.01)
                for ti_id in started:
                    if env.finish(ti_id) is TIS.SUCCESS:
                        with lock:
                            successes[ti_id] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=schedule, args=(f"s{i}",)) for i in range(2)]
    threads += [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not errors:
            runs = env.runs("busy")
            if len(runs) == 4 and all(r.state is DagRunState.SUCCESS for r in runs):
                break
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert errors == []
    assert [r.state for r in env.runs("busy")] == [DagRunState.SUCCESS] * 4
    with env.sessions() as session:
        ids = session.scalars(select(TaskInstance.id)).all()
    assert len(ids) == 40
    assert successes == collections.Counter(dict.fromkeys(ids, 1))
