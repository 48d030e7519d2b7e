"""What ``ExternalTaskSensor`` asks: another DAG's run by logical date and its tasks' states,
within the task's own bundle only."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airlock.db import DagRun
from airlock.models.states import TaskInstanceState

from .conftest import ExecEnv, task

DAY = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def test_a_run_by_logical_date_and_its_task_states(env: ExecEnv, expect_problem: Any) -> None:
    env.add_dag("upstream", tasks=[task("load"), task("t1")])
    env.add_run("upstream", "scheduled__1")
    with env.session() as session:
        run = session.query(DagRun).filter_by(dag_id="upstream", run_id="scheduled__1").one()
        run.logical_date = DAY
        session.commit()
    env.add_ti("upstream", "load", "scheduled__1", state=TaskInstanceState.SUCCESS, map_index=0)
    env.add_ti("upstream", "load", "scheduled__1", state=TaskInstanceState.FAILED, map_index=1)
    env.add_dag("downstream")
    env.add_run("downstream")
    ti_id = env.add_ti("downstream", "t1")
    client = env.sdk(env.task_token(ti_id))
    found = client.find_dag_run("upstream", DAY)
    assert found is not None
    assert found.run_id == "scheduled__1"
    assert client.find_dag_run("upstream", DAY + dt.timedelta(days=1)) is None
    assert client.task_states("upstream", "scheduled__1", "load") == ["success", "failed"]
    assert client.task_states("upstream", "scheduled__1", "absent") == []

    # Another team's DAG answers as if it did not exist.
    env.add_dag("theirs", bundle="team-b")
    token = env.task_token(ti_id)
    response = env.call(
        "GET", "/dag-runs/theirs/by-logical-date", token, params={"logical_date": DAY.isoformat()}
    )
    expect_problem(response, 404, "does not exist in bundle 'team-a'")
    response = env.call(
        "GET", "/dag-runs/upstream/nope/task-states", token, params={"task_id": "x"}
    )
    expect_problem(response, 404, "nope")
    naive = env.call(
        "GET",
        "/dag-runs/upstream/by-logical-date",
        token,
        params={"logical_date": "2026-03-02T00:00"},
    )
    expect_problem(naive, 422, "logical_date")
