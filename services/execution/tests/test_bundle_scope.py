"""Reads and writes limited to the task token's bundle: variables, connections, XComs and DAG
runs of another bundle answer exactly as missing ones (404) and are never changed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airlock.core.tokens import TokenKind
from airlock.db import Connection, DagRun, TaskInstance, Variable
from airlock.models.states import DagRunState, TaskInstanceState

from .conftest import ExecEnv, task


@pytest.fixture
def token(env: ExecEnv) -> str:
    """The task token of a task of bundle team-a; team-b has a DAG and secrets of its own."""
    env.add_dag("mine", bundle="team-a", tasks=[task("t1"), task("up"), task("m")])
    env.add_dag("theirs", bundle="team-b")
    env.add_run("mine")
    env.add_run("theirs")
    box = env.secret_box()
    with env.session() as session:
        for key, bundle in [("shared", None), ("own", "team-a"), ("secret", "team-b")]:
            variable = Variable(key=key, bundle_name=bundle, description=f"{key} var")
            variable.set_value(f"{key}-value", box)
            session.add(variable)
        for conn_id, bundle in [("db_shared", None), ("db_own", "team-a"), ("db_b", "team-b")]:
            connection = Connection(
                conn_id=conn_id,
                conn_type="postgres",
                host=f"{conn_id}.internal",
                bundle_name=bundle,
            )
            connection.set_password(f"{conn_id}-pw", box)
            connection.set_extra('{"sslmode": "require"}', box)
            session.add(connection)
        session.commit()
    return env.task_token(env.add_ti("mine", "t1", state=TaskInstanceState.RUNNING))


def not_found(response: Any, what: str) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert what in response.json()["detail"]


# --- variables ------------------------------------------------------------------------------


def test_a_task_reads_global_and_own_bundle_variables(env: ExecEnv, token: str) -> None:
    for key in ("shared", "own"):
        response = env.call("GET", f"/variables/{key}", token)
        assert response.json() == {"key": key, "value": f"{key}-value"}


def test_another_bundles_variable_answers_as_a_missing_one(env: ExecEnv, token: str) -> None:
    theirs = env.call("GET", "/variables/secret", token)
    missing = env.call("GET", "/variables/nope", token)
    not_found(theirs, "variable 'secret' does not exist for bundle 'team-a'")
    not_found(missing, "variable 'nope' does not exist for bundle 'team-a'")
    assert "secret-value" not in theirs.text


def test_a_new_variable_belongs_to_the_tasks_bundle_and_is_encrypted(
    env: ExecEnv, token: str
) -> None:
    # (A plaintext long enough that the ciphertext's base64 cannot contain it by chance.)
    plaintext = "a-plaintext-value-of-team-a"
    body = {"value": plaintext, "description": "d"}
    response = env.call("PUT", "/variables/fresh", token, body)
    assert response.status_code == 204, response.text
    (row,) = env.rows(Variable, key="fresh")
    assert (row.bundle_name, row.description, row.is_encrypted) == ("team-a", "d", True)
    assert plaintext not in row.value
    assert env.call("GET", "/variables/fresh", token).json()["value"] == plaintext


def test_updating_keeps_a_variables_bundle_and_description(env: ExecEnv, token: str) -> None:
    assert env.call("PUT", "/variables/own", token, {"value": "new"}).status_code == 204
    (row,) = env.rows(Variable, key="own")
    assert (row.bundle_name, row.description) == ("team-a", "own var")
    assert row.get_value(env.secret_box()) == "new"


def test_a_global_variable_is_read_only_for_tasks(env: ExecEnv, token: str) -> None:
    for method, body in [("PUT", {"value": "pwned"}), ("DELETE", None)]:
        response = env.call(method, "/variables/shared", token, body)
        assert response.status_code == 403, response.text
        assert "variable 'shared' is global" in response.json()["detail"]
    (row,) = env.rows(Variable, key="shared")
    assert (row.bundle_name, row.get_value(env.secret_box())) == (None, "shared-value")


def test_a_granted_global_variable_takes_a_tasks_value_but_stays_global(
    env: ExecEnv, token: str
) -> None:
    with env.session() as session:
        session.get_one(Variable, "shared").task_writable = True
        session.commit()
    assert env.call("PUT", "/variables/shared", token, {"value": "new"}).status_code == 204
    (row,) = env.rows(Variable, key="shared")
    assert (row.bundle_name, row.description) == (None, "shared var")
    assert row.get_value(env.secret_box()) == "new"
    assert env.call("DELETE", "/variables/shared", token).status_code == 403


def test_another_bundles_variable_cannot_be_overwritten_or_deleted(
    env: ExecEnv, token: str
) -> None:
    not_found(env.call("PUT", "/variables/secret", token, {"value": "pwned"}), "'secret'")
    not_found(env.call("DELETE", "/variables/secret", token), "'secret'")
    (row,) = env.rows(Variable, key="secret")
    assert (row.bundle_name, row.get_value(env.secret_box())) == ("team-b", "secret-value")


def test_delete_removes_own_variable_and_a_repeat_is_404(env: ExecEnv, token: str) -> None:
    assert env.call("DELETE", "/variables/own", token).status_code == 204
    assert env.rows(Variable, key="own") == []
    not_found(env.call("DELETE", "/variables/own", token), "'own'")


def test_a_too_long_key_is_a_4xx_not_a_db_error(env: ExecEnv, token: str) -> None:
    response = env.call("PUT", f"/variables/{'k' * 300}", token, {"value": "v"})
    assert response.status_code == 422, response.text
    assert "length <= 250" in response.json()["detail"]


# --- connections ----------------------------------------------------------------------------


def test_a_task_reads_global_and_own_connections_decrypted(env: ExecEnv, token: str) -> None:
    response = env.call("GET", "/connections/db_own", token)
    assert response.json() == {
        "conn_id": "db_own",
        "conn_type": "postgres",
        "host": "db_own.internal",
        "schema": None,
        "login": None,
        "password": "db_own-pw",
        "port": None,
        "extra": '{"sslmode": "require"}',
    }
    assert env.call("GET", "/connections/db_shared", token).json()["password"] == "db_shared-pw"


def test_another_bundles_connection_answers_as_a_missing_one(env: ExecEnv, token: str) -> None:
    theirs = env.call("GET", "/connections/db_b", token)
    not_found(theirs, "connection 'db_b' does not exist for bundle 'team-a'")
    assert "db_b-pw" not in theirs.text


# --- XCom pull ------------------------------------------------------------------------------


def push(env: ExecEnv, dag_id: str, task_id: str, value: Any, map_index: int = -1) -> None:
    ti_id = env.add_ti(dag_id, task_id, map_index=map_index, state=TaskInstanceState.RUNNING)
    body = {"key": "return_value", "value": value}
    response = env.call(
        "PUT", f"/task-instances/{ti_id}/xcoms/return_value", env.task_token(ti_id), body
    )
    assert response.status_code == 204, response.text


def test_xcom_pull_reads_any_task_of_its_bundle(env: ExecEnv, token: str) -> None:
    push(env, "mine", "up", {"n": 1})
    response = env.call("GET", "/xcoms/mine/manual__1/up/return_value", token)
    assert response.json() == {"key": "return_value", "value": {"n": 1}}
    not_found(env.call("GET", "/xcoms/mine/manual__1/up/other_key", token), "no XCom 'other_key'")


def test_xcom_pull_of_a_mapped_task_gives_one_or_all_values(env: ExecEnv, token: str) -> None:
    for index in (2, 0, 1):
        push(env, "mine", "m", f"v{index}", map_index=index)
    path = "/xcoms/mine/manual__1/m/return_value"
    assert env.call("GET", path, token).json()["value"] == ["v0", "v1", "v2"]
    assert env.call("GET", path, token, params={"map_index": 1}).json()["value"] == "v1"
    not_found(env.call("GET", path, token, params={"map_index": 7}), "(map index 7)")


def test_xcom_of_another_bundle_is_404(env: ExecEnv, token: str) -> None:
    push(env, "theirs", "t1", "private")
    response = env.call("GET", "/xcoms/theirs/manual__1/t1/return_value", token)
    not_found(response, "DAG 'theirs' does not exist in bundle 'team-a'")
    assert "private" not in response.text


# --- DAG runs -------------------------------------------------------------------------------


def test_dag_run_info_of_its_bundle(env: ExecEnv, token: str) -> None:
    info = env.call("GET", "/dag-runs/mine/manual__1", token).json()
    assert (info["dag_id"], info["run_id"], info["state"], info["run_type"]) == (
        "mine",
        "manual__1",
        "running",
        "manual",
    )
    not_found(env.call("GET", "/dag-runs/mine/nope", token), "'nope'")
    not_found(env.call("GET", "/dag-runs/theirs/manual__1", token), "bundle 'team-a'")


def test_previous_dag_run_is_the_latest_before_the_given_one(env: ExecEnv, token: str) -> None:
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for day, state in [(1, DagRunState.SUCCESS), (2, DagRunState.FAILED), (3, DagRunState.RUNNING)]:
        env.add_run("mine", f"day{day}", run_after=base + dt.timedelta(day), state=state)
    path = "/dag-runs/mine/previous"
    assert env.call("GET", path, token, params={"before": "day3"}).json()["run_id"] == "day2"
    succeeded = env.call("GET", path, token, params={"before": "day3", "state": "success"})
    assert succeeded.json()["run_id"] == "day1"
    not_found(env.call("GET", path, token, params={"before": "day1"}), "no run before 'day1'")
    not_found(env.call("GET", path, token, params={"before": "nope"}), "'nope'")


def test_trigger_creates_a_run_of_a_dag_of_its_bundle(env: ExecEnv, token: str) -> None:
    body = {"run_id": "from_task", "conf": {"k": "v"}}
    response = env.call("POST", "/dag-runs/mine", token, body)
    assert response.status_code == 201, response.text
    assert (response.json()["run_id"], response.json()["conf"]) == ("from_task", {"k": "v"})
    (run,) = env.rows(DagRun, dag_id="mine", run_id="from_task")
    assert run.triggered_by is not None
    assert env.rows(TaskInstance, dag_id="mine", run_id="from_task"), "first tasks are created"


def test_trigger_of_an_existing_run_is_409_unless_reset(
    env: ExecEnv, token: str, expect_problem: Any
) -> None:
    env.add_ti("mine", "up", state=TaskInstanceState.SUCCESS)
    response = env.call("POST", "/dag-runs/mine", token, {"run_id": "manual__1"})
    expect_problem(response, 409, "reset_dag_run")
    reset = env.call(
        "POST", "/dag-runs/mine", token, {"run_id": "manual__1", "reset_dag_run": True}
    )
    assert reset.status_code == 201, reset.text
    states = {ti.task_id: ti.state for ti in env.rows(TaskInstance, dag_id="mine")}
    assert states.get("up") is not TaskInstanceState.SUCCESS, "the reset run starts over"


def test_trigger_of_another_bundles_dag_is_404(env: ExecEnv, token: str) -> None:
    not_found(env.call("POST", "/dag-runs/theirs", token, {"run_id": "x"}), "bundle 'team-a'")
    assert env.rows(DagRun, dag_id="theirs", run_id="x") == []


# --- who may read ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/variables/shared",
        "/connections/db_shared",
        "/xcoms/mine/manual__1/up/return_value",
        "/dag-runs/mine/manual__1",
    ],
)
def test_a_worker_token_reads_nothing(
    env: ExecEnv, token: str, expect_problem: Any, path: str
) -> None:
    expect_problem(env.call("GET", path, env.worker_token()), 403, "worker token")


def test_a_task_token_without_a_bundle_reads_nothing(
    env: ExecEnv, token: str, expect_problem: Any
) -> None:
    bare = env.signer.issue(TokenKind.TASK, "x", 60)
    expect_problem(env.call("GET", "/variables/shared", bare), 403, "names no bundle")
