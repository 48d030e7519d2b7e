"""The start of a task instance (queued → running, counting the try) as the Execution API's
``PATCH …/run`` applies it, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update

from airlock.db import TaskInstance, XCom
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling.starting import start_task

from .conftest import T0, Env, make_dag, task

S = dt.timedelta(seconds=1)


@pytest.fixture
def ti_id(env: Env) -> str:
    env.install(make_dag("runner", [task("t1"), task("t2")]))
    return env.ti(env.trigger("runner"), "t1").id


def change(env: Env, ti_id: str, **values: Any) -> None:
    with env.sessions() as session:
        session.execute(update(TaskInstance).where(TaskInstance.id == ti_id).values(**values))
        session.commit()


def start(env: Env, ti_id: str, hostname: str = "host-1", pid: int = 100) -> Any:
    with env.sessions() as session:
        started = start_task(session.connection(), ti_id, hostname, pid, T0, T0 + S)
        session.commit()
        return started


def push(env: Env, task_id: str, key: str) -> None:
    with env.sessions() as session:
        session.add(XCom(dag_id="runner", run_id=_run_id(env), task_id=task_id, key=key, value="1"))
        session.commit()


def _run_id(env: Env) -> str:
    with env.sessions() as session:
        return session.scalars(select(TaskInstance.run_id)).first() or ""


def xcom_keys(env: Env) -> list[str]:
    with env.sessions() as session:
        return sorted(session.scalars(select(XCom.key)))


def test_a_start_moves_queued_to_running_under_its_runner_and_counts_the_try(
    env: Env, ti_id: str
) -> None:
    started = start(env, ti_id)
    assert (started.id, started.try_number, started.max_tries) == (ti_id, 1, 0)
    ti = env.ti_by_id(ti_id)
    assert (ti.state, ti.hostname, ti.pid, ti.start_date, ti.last_heartbeat_at) == (
        TIS.RUNNING,
        "host-1",
        100,
        T0,
        T0 + S,
    )
    assert start(env, ti_id) is None  # running: not startable again
    assert env.ti_by_id(ti_id).try_number == 1


@pytest.mark.parametrize("state", [TIS.SCHEDULED, TIS.FAILED, TIS.SUCCESS, None])
def test_only_a_queued_or_restarting_task_starts(env: Env, ti_id: str, state: TIS | None) -> None:
    change(env, ti_id, state=state)
    assert start(env, ti_id) is None
    assert env.ti_by_id(ti_id).try_number == 0
    change(env, ti_id, state=TIS.RESTARTING, try_number=1)
    assert start(env, ti_id).try_number == 2


def test_a_new_try_starts_without_the_xcoms_of_the_last_one(env: Env, ti_id: str) -> None:
    change(env, ti_id, try_number=1)
    push(env, "t1", "old")
    push(env, "t2", "other")
    assert start(env, ti_id).try_number == 2
    assert xcom_keys(env) == ["other"]


@pytest.mark.parametrize(
    "left_set", [{"next_method": "execute_complete"}, {"first_poke_at": T0 - 300 * S}]
)
def test_a_task_resuming_after_deferral_or_reschedule_continues_its_try(
    env: Env, ti_id: str, left_set: dict[str, Any]
) -> None:
    """``finish_task`` leaves ``next_method`` / ``first_poke_at`` set when the try goes on."""
    change(env, ti_id, try_number=1, **left_set)
    push(env, "t1", "kept")
    assert start(env, ti_id).try_number == 1
    assert xcom_keys(env) == ["kept"], "a resumed task keeps its XComs"
