"""``just bench triggerer``: how many triggers one triggerer runs, how fast a fired trigger resumes
its task, and how fast a SIGKILLed triggerer's triggers move.

(a) ``--n`` (10,000) deferred tasks wait on ``TimeDeltaTrigger``\\ s in one triggerer process; the
    moments are spread over ``--window-s`` once all are running. Memory per trigger is the growth
    of the triggerer's process tree (parent + runner) from idle to all running; resume latency is
    the trigger's moment to the task instance's move to ``scheduled`` (the row's ``fired_at``;
    queueing to a worker is the scheduler's and not included); CPU is the tree's user+system time.
(b) ``--failover-n`` (1,000) triggers held by triggerer A while B runs; A and its runner are
    SIGKILLed: the time until B holds them all (lease ``[internal] trigger_lease_s``, default
    10 s), and duplicate resumes (events accepted beyond one per task; must be 0).

The last line is one JSON object. ``--db-url`` runs on PostgreSQL instead of the embedded SQLite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from sqlalchemy import func, insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support's DAG installer

from _stack import AIRLOCK, Home, api, fresh_home

from airlock.core.tokens import TokenKind
from airlock.core.tokens.keys import load_private_key
from airlock.core.tokens.signer import TokenSigner
from airlock.db import TaskInstance, Trigger, make_engine, make_session_factory
from airlock.models.states import DagRunType
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import DagCache, create_dag_run
from tests.support.dags import install_dag, make_dag, task

TASKS_PER_RUN = 100


def _defer(db_url: str, dag_id: str, moments: list[dt.datetime]) -> list[str]:
    """``len(moments)`` deferred task instances, each waiting on a ``DateTimeTrigger``."""
    sessions = make_session_factory(make_engine(db_url))
    now = dt.datetime.now(dt.UTC)
    cache = DagCache()
    ids: list[str] = []
    with sessions() as session:
        install_dag(
            session, make_dag(dag_id, [task(f"t{i}") for i in range(TASKS_PER_RUN)]), bundle="b"
        )
        for r in range((len(moments) + TASKS_PER_RUN - 1) // TASKS_PER_RUN):
            create_dag_run(
                session,
                dag_id,
                run_type=DagRunType.MANUAL,
                dag_cache=cache,
                run_id=f"r{r}",
                logical_date=now + dt.timedelta(seconds=r),
            )
        session.flush()
        ids = list(session.scalars(select(TaskInstance.id).where(TaskInstance.dag_id == dag_id)))
        ids = ids[: len(moments)]
        session.execute(
            update(TaskInstance)
            .where(TaskInstance.id.in_(ids))
            .values(state=TIS.DEFERRED, try_number=1, next_method="execute_complete")
        )
        session.execute(
            insert(Trigger),
            [
                {
                    "task_instance_id": ti_id,
                    "classpath": "airlock.sdk.triggers.temporal.DateTimeTrigger",
                    "kwargs": {"moment": moment.isoformat(), "end_from_trigger": False},
                    "created_at": now,
                    "lease_epoch": 0,
                }
                for ti_id, moment in zip(ids, moments, strict=True)
            ],
        )
        session.commit()
    return ids


def _triggerer(
    home: Home, url: str, name: str, capacity: int, bundle: Path
) -> subprocess.Popen[bytes]:
    signer = TokenSigner(load_private_key(home.path / "keys" / "jwt_signing.pem"))
    token = signer.issue(TokenKind.SERVICE, "bench", 3600, role="triggerer", bundles=["b"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}
    env.update(
        {
            "AIRLOCK_HOME": str(home.path / f"zone-{name}"),
            "AIRLOCK_ZONE": "processing",
            "AIRLOCK_TRIGGERER__API_URL": url,
            "AIRLOCK_TRIGGERER__TOKEN": token,
            "AIRLOCK_TRIGGERER__BUNDLES": f"b={bundle}",
            "AIRLOCK_LOGGING__LEVEL": "WARNING" if name == "main" else "INFO",
        }
    )
    log = (home.path / f"triggerer-{name}.log").open("wb")
    return subprocess.Popen(
        [*AIRLOCK, "triggerer", "--name", name, "--capacity", str(capacity)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _rss_mb(pid: int) -> float:
    return sum(p.memory_info().rss for p in _tree(pid)) / 2**20


def _cpu_s(pid: int) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in _tree(pid))


def _held_by(db_url: str, ids: list[str]) -> dict[str | None, int]:
    with make_session_factory(make_engine(db_url))() as session:
        rows = session.execute(
            select(Trigger.triggerer, func.count())
            .where(Trigger.task_instance_id.in_(ids))
            .group_by(Trigger.triggerer)
        ).all()
    return {str(holder) if holder else None: int(count) for holder, count in rows}


def _wait(condition, timeout_s: float, what: str) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise SystemExit(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.1)
    return time.monotonic() - started


def capacity_run(
    home: Home, url: str, db_url: str, n: int, window_s: float, bundle: Path
) -> dict[str, float]:
    triggerer = _triggerer(home, url, "main", n, bundle)
    try:
        time.sleep(3)  # started, its runner too, with nothing to run
        idle_mb = _rss_mb(triggerer.pid)
        cpu0 = _cpu_s(triggerer.pid)
        lead = 15 + n / 1000
        start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lead)
        moments = [start + dt.timedelta(seconds=window_s * i / n) for i in range(n)]
        ids = _defer(db_url, "capacity", moments)
        _wait(lambda: _held_by(db_url, ids).get("bench/main") == n, lead, "leasing every trigger")
        time.sleep(max(0.0, (start - dt.datetime.now(dt.UTC)).total_seconds() - 2))
        full_mb = _rss_mb(triggerer.pid)
        with make_session_factory(make_engine(db_url))() as session:

            def all_fired() -> bool:
                return (
                    session.scalar(
                        select(func.count()).where(
                            Trigger.fired_at.is_not(None), Trigger.task_instance_id.in_(ids)
                        )
                    )
                    == n
                )

            _wait(all_fired, window_s + 120, "every trigger firing")
            cpu_s = _cpu_s(triggerer.pid) - cpu0
            rows = session.execute(
                select(Trigger.kwargs, Trigger.fired_at).where(Trigger.task_instance_id.in_(ids))
            ).all()
    finally:
        triggerer.send_signal(signal.SIGTERM)
        triggerer.wait(30)
    lags = sorted(
        (fired - dt.datetime.fromisoformat(kwargs["moment"])).total_seconds() * 1000
        for kwargs, fired in rows
    )
    return {
        "triggers": n,
        "mb_per_1k_triggers": round((full_mb - idle_mb) / n * 1000, 2),
        "triggerer_rss_mb": round(full_mb, 1),
        "resume_p50_ms": round(lags[len(lags) // 2], 1),
        "resume_p99_ms": round(lags[int(len(lags) * 0.99) - 1], 1),
        "cpu_s": round(cpu_s, 2),
        "fire_window_s": window_s,
    }


def failover_run(home: Home, url: str, db_url: str, n: int, bundle: Path) -> dict[str, float]:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=45)
    ids = _defer(db_url, "failover", [moment] * n)
    a = _triggerer(home, url, "a", n, bundle)
    _wait(lambda: _held_by(db_url, ids).get("bench/a") == n, 40, "a leasing every trigger")
    b = _triggerer(home, url, "b", n, bundle)
    time.sleep(3)
    for process in reversed(_tree(a.pid)):
        process.send_signal(signal.SIGKILL)
    failover_s = _wait(lambda: _held_by(db_url, ids).get("bench/b") == n, 60, "failover")
    with make_session_factory(make_engine(db_url))() as session:
        _wait(
            lambda: (
                session.scalar(
                    select(func.count()).where(
                        TaskInstance.id.in_(ids), TaskInstance.state == TIS.SCHEDULED
                    )
                )
                == n
            ),
            120,
            "every task resuming",
        )
    b.send_signal(signal.SIGTERM)
    b.wait(30)
    accepted = re.findall(
        r"(\d+) trigger end\(s\) accepted", (home.path / "triggerer-b.log").read_text()
    )
    return {
        "failover_triggers": n,
        "failover_s": round(failover_s, 2),
        "duplicate_resumes": int(accepted[-1]) - n if accepted else -1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--window-s", type=float, default=20.0)
    parser.add_argument("--failover-n", type=int, default=1000)
    parser.add_argument("--db-url", help="PostgreSQL URL (default: embedded SQLite)")
    args = parser.parse_args()
    home = fresh_home(args.db_url)
    db_url = args.db_url or f"sqlite:///{home.path / 'airlock.db'}"
    bundle = home.path / "bundle"
    bundle.mkdir()
    with api(home, "internal") as url:
        result = capacity_run(home, url, db_url, args.n, args.window_s, bundle)
        print(f"(a) {result}", file=sys.stderr)
        result |= failover_run(home, url, db_url, args.failover_n, bundle)
    print(json.dumps(result | {"db": "postgresql" if args.db_url else "sqlite"}))


if __name__ == "__main__":
    main()
