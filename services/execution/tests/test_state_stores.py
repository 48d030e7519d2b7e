"""Task and asset state stores on the Execution API: values kept across tries (task store) and
runs (asset store), expiry, and every call bound to the token's task instance, its declared
assets and its bundle."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airlock.db import AssetState, TaskState
from airlock.models.dag import AssetAliasRef, AssetRef
from airlock.models.states import TaskInstanceState

from .conftest import ExecEnv, task

ORDERS = AssetRef(name="orders", uri="s3://lake/orders")
USERS = AssetRef(name="users", uri="s3://lake/users")


def start(env: ExecEnv, ti_id: str, token: str, pid: int = 100) -> None:
    body = {"hostname": "h", "pid": pid, "start_date": dt.datetime.now(dt.UTC).isoformat()}
    response = env.call("PATCH", f"/task-instances/{ti_id}/run", token, body)
    assert response.status_code == 200, response.text


def running(env: ExecEnv, dag_id: str, task_id: str, run_id: str = "manual__1", **ti: Any) -> str:
    """A started task instance; its token."""
    ti_id = env.add_ti(dag_id, task_id, run_id, max_tries=3, **ti)
    token = env.task_token(ti_id)
    start(env, ti_id, token)
    return ti_id


@pytest.fixture
def dag(env: ExecEnv) -> str:
    env.add_dag(
        "stateful",
        tasks=[
            task("load", outlets=[ORDERS, AssetAliasRef(name="any")]),
            task("read", inlets=[ORDERS]),
            task("other"),
        ],
    )
    env.add_run("stateful")
    return "stateful"


def test_task_state_is_kept_across_tries_of_the_same_task_instance(env: ExecEnv, dag: str) -> None:
    ti_id = running(env, dag, "load")
    client = env.sdk(env.task_token(ti_id))
    assert client.get_state(ti_id, "job_id") is None
    client.set_state(ti_id, "job_id", {"id": "j-17", "polls": [1, 2]}, retention_s=None)
    stored = client.get_state(ti_id, "job_id")
    assert stored is not None
    assert (stored.value, stored.expires_at) == ({"id": "j-17", "polls": [1, 2]}, None)

    # The try fails; the scheduler queues the next one, which reads what the first wrote.
    env.set_state(ti_id, TaskInstanceState.QUEUED, end_date=None)
    token = env.task_token(ti_id, try_number=2)
    start(env, ti_id, token, pid=200)
    again = env.sdk(token).get_state(ti_id, "job_id")
    assert again is not None
    assert again.value == {"id": "j-17", "polls": [1, 2]}
    assert env.ti(ti_id).try_number == 2


def test_task_state_delete_and_clear_and_other_instances_see_nothing(
    env: ExecEnv, dag: str
) -> None:
    first = running(env, dag, "load")
    second = running(env, dag, "read")
    one, two = env.sdk(env.task_token(first)), env.sdk(env.task_token(second))
    one.set_state(first, "a", 1, retention_s=None)
    one.set_state(first, "b", 2, retention_s=3600)
    two.set_state(second, "a", "theirs", retention_s=None)
    assert two.get_state(second, "b") is None
    one.delete_state(first, "a")
    one.delete_state(first, "a")  # deleting a missing key is fine
    assert one.get_state(first, "a") is None
    b = one.get_state(first, "b")
    assert b is not None
    assert b.expires_at is not None
    one.delete_state(first, None)
    assert env.rows(TaskState, task_id="load") == []
    assert [r.value for r in env.rows(TaskState, task_id="read")] == ['"theirs"']


def test_an_expired_key_reads_as_absent_and_the_next_write_removes_it(
    env: ExecEnv, dag: str
) -> None:
    ti_id = running(env, dag, "load")
    client = env.sdk(env.task_token(ti_id))
    client.set_state(ti_id, "short", "x", retention_s=60)
    with env.session() as session:
        row = session.get_one(TaskState, (dag, "manual__1", "load", -1, "short"))
        row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.commit()
    assert client.get_state(ti_id, "short") is None
    client.set_state(ti_id, "other", "y", retention_s=None)
    assert [r.key for r in env.rows(TaskState, task_id="load")] == ["other"]


def test_another_task_instances_store_is_refused(
    env: ExecEnv, dag: str, expect_problem: Any
) -> None:
    mine = running(env, dag, "load")
    theirs = running(env, dag, "read")
    token = env.task_token(mine)
    for method, body in (("GET", None), ("PUT", {"value": 1}), ("DELETE", None)):
        response = env.call(method, f"/task-instances/{theirs}/state/k", token, body)
        expect_problem(response, 403, f"bound to task instance {mine}")
    expect_problem(env.call("DELETE", f"/task-instances/{theirs}/state", token), 403, "bound")
    worker = env.worker_token()
    expect_problem(env.call("GET", f"/task-instances/{mine}/state/k", worker), 403, "worker")


def test_a_finished_try_writes_nothing_more(env: ExecEnv, dag: str, expect_problem: Any) -> None:
    ti_id = running(env, dag, "load")
    token = env.task_token(ti_id)
    env.set_state(ti_id, TaskInstanceState.SUCCESS)
    response = env.call("PUT", f"/task-instances/{ti_id}/state/k", token, {"value": 1})
    expect_problem(response, 409, "is not running")


def test_bad_writes_are_422(env: ExecEnv, dag: str, expect_problem: Any) -> None:
    ti_id = running(env, dag, "load")
    token = env.task_token(ti_id)
    path = f"/task-instances/{ti_id}/state/k"
    expect_problem(env.call("PUT", path, token, {"value": 1, "retention_s": 0}), 422, "retention_s")
    expect_problem(env.call("PUT", path, token, {"retention_s": 5}), 422, "value")
    expect_problem(env.call("GET", f"/task-instances/{ti_id}/state/{'k' * 600}", token), 422, "key")


def test_asset_state_is_shared_by_the_tasks_that_declare_the_asset_across_runs(
    env: ExecEnv, dag: str
) -> None:
    producer = running(env, dag, "load")
    env.sdk(env.task_token(producer)).set_state(
        producer, "watermark", "2024-06-01", retention_s=None, asset_uri=ORDERS.uri
    )
    env.add_run(dag, "manual__2")
    consumer = running(env, dag, "read", run_id="manual__2")
    seen = env.sdk(env.task_token(consumer)).get_state(consumer, "watermark", ORDERS.uri)
    assert seen is not None
    assert seen.value == "2024-06-01"
    assert [(r.bundle_name, r.asset_uri) for r in env.rows(AssetState)] == [("team-a", ORDERS.uri)]
    env.sdk(env.task_token(consumer)).delete_state(consumer, None, ORDERS.uri)
    assert env.rows(AssetState) == []


def test_an_undeclared_asset_or_another_teams_store_is_refused(
    env: ExecEnv, dag: str, expect_problem: Any
) -> None:
    ti_id = running(env, dag, "load")
    token = env.task_token(ti_id)
    path = f"/task-instances/{ti_id}/asset-state/watermark"
    response = env.call("PUT", path, token, {"value": 1}, params={"uri": USERS.uri})
    expect_problem(response, 403, "does not declare asset 's3://lake/users'")
    bare = running(env, dag, "other")
    response = env.call(
        "GET",
        f"/task-instances/{bare}/asset-state/watermark",
        env.task_token(bare),
        params={"uri": ORDERS.uri},
    )
    expect_problem(response, 403, "its assets: none")
    expect_problem(env.call("GET", path, token), 400, "uri")

    # Team B declares the same asset URI: it has its own store, and never sees team A's.
    env.sdk(token).set_state(ti_id, "watermark", "team-a's", retention_s=None, asset_uri=ORDERS.uri)
    env.add_dag("their_dag", bundle="team-b", tasks=[task("load", outlets=[ORDERS])])
    env.add_run("their_dag")
    theirs = running(env, "their_dag", "load")
    client = env.sdk(env.task_token(theirs))
    assert client.get_state(theirs, "watermark", ORDERS.uri) is None
    client.set_state(theirs, "watermark", "team-b's", retention_s=None, asset_uri=ORDERS.uri)
    mine = env.sdk(token).get_state(ti_id, "watermark", ORDERS.uri)
    assert mine is not None
    assert mine.value == "team-a's"


def test_inlet_events_list_a_declared_assets_latest_events_oldest_first(
    env: ExecEnv, dag: str, expect_problem: Any
) -> None:
    from airlock.db import Asset as AssetRow
    from airlock.db import AssetEvent

    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with env.session() as session:
        asset = session.query(AssetRow).filter_by(uri=ORDERS.uri).one_or_none()
        if asset is None:
            asset = AssetRow(uri=ORDERS.uri, name=ORDERS.name)
            session.add(asset)
            session.flush()
        for n in range(3):
            session.add(
                AssetEvent(
                    asset_id=asset.id,
                    extra={"n": n},
                    source="task",
                    source_dag_id="up",
                    timestamp=base + dt.timedelta(minutes=n),
                )
            )
        session.commit()
    reader = running(env, dag, "read")
    client = env.sdk(env.task_token(reader))
    events = client.asset_events(reader, ORDERS.uri, limit=2).events
    assert [e.extra for e in events] == [{"n": 1}, {"n": 2}]
    assert events[-1].source_dag_id == "up"
    assert events[-1].name == "orders"
    token = env.task_token(reader)
    path = f"/task-instances/{reader}/asset-events"
    expect_problem(env.call("GET", path, token, params={"uri": USERS.uri}), 403, "does not declare")
    expect_problem(
        env.call("GET", path, token, params={"uri": ORDERS.uri, "limit": 0}), 422, "limit"
    )
