"""Deadline alerts on SQLite and PostgreSQL: recorded when a run is created, claimed once when
missed (also by two schedulers at once), cancelled when the run ends first."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import select

from airlock.db import CallbackRequest, DagRunDeadline
from airlock.models.dag import SerializedDeadline
from airlock.scheduling import claim_missed_deadlines

from .conftest import T0, Env, make_dag, task

S = dt.timedelta(seconds=1)


def install(env: Env, dag_id: str, *deadlines: SerializedDeadline) -> None:
    env.install(make_dag(dag_id, [task("a")], deadlines=list(deadlines)))


def deadlines(env: Env, dag_id: str) -> list[tuple[int, dt.datetime, str]]:
    with env.sessions() as session:
        rows = session.scalars(
            select(DagRunDeadline)
            .where(DagRunDeadline.dag_id == dag_id)
            .order_by(DagRunDeadline.id)
        )
        return [(r.alert_index, r.deadline_at, r.state) for r in rows]


def deadline_callbacks(env: Env, dag_id: str) -> list[CallbackRequest]:
    with env.sessions() as session:
        return list(
            session.scalars(
                select(CallbackRequest).where(
                    CallbackRequest.dag_id == dag_id, CallbackRequest.kind == "deadline"
                )
            )
        )


def claim(env: Env, now: dt.datetime) -> int:
    with env.sessions() as session:
        claimed = claim_missed_deadlines(session, now)
        session.commit()
        return claimed


def test_a_run_records_its_deadlines(env: Env) -> None:
    fixed = T0 + dt.timedelta(hours=5)
    install(
        env,
        "dl",
        SerializedDeadline(reference="dagrun_queued_at", interval_s=10),
        SerializedDeadline(reference="fixed_datetime", interval_s=60, fixed_at=fixed),
        SerializedDeadline(reference="dagrun_logical_date", interval_s=5),
        SerializedDeadline(reference="average_runtime", interval_s=5, max_runs=3),
    )
    env.trigger("dl")
    # A manual run without a logical date, and a DAG without three successful runs, have none.
    assert deadlines(env, "dl") == [
        (0, T0 + 10 * S, "pending"),
        (1, fixed + 60 * S, "pending"),
    ]


def test_a_missed_deadline_is_claimed_once_and_queues_its_callback(env: Env) -> None:
    install(env, "late", SerializedDeadline(reference="dagrun_queued_at", interval_s=10))
    run = env.trigger("late")
    assert claim(env, T0 + 9 * S) == 0
    assert claim(env, T0 + 11 * S) == 1
    assert claim(env, T0 + 12 * S) == 0
    (callback,) = deadline_callbacks(env, "late")
    assert (callback.run_id, callback.payload["alert_index"]) == (run.run_id, 0)
    assert deadlines(env, "late")[0][2] == "missed"


def test_two_schedulers_claim_a_deadline_once(env: Env) -> None:
    install(env, "race", SerializedDeadline(reference="dagrun_queued_at", interval_s=1))
    for n in range(5):
        env.trigger("race", run_id=f"r{n}")
    start = threading.Barrier(2)
    counts: list[int] = []

    def scheduler() -> None:
        start.wait()
        counts.append(claim(env, T0 + 5 * S))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 5
    assert len(deadline_callbacks(env, "race")) == 5


def test_a_run_that_ends_first_cancels_its_deadline(env: Env) -> None:
    install(env, "quick", SerializedDeadline(reference="dagrun_queued_at", interval_s=60))
    run = env.trigger("quick")
    assert env.work(run).value == "success"
    assert deadlines(env, "quick")[0][2] == "cancelled"
    assert claim(env, T0 + 3600 * S) == 0
    assert deadline_callbacks(env, "quick") == []
