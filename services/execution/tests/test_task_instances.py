"""A runner and its own task instance: start, heartbeat, token refresh, final state, logs and
XComs; every call bound to the task instance its token names."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from airlock.core.tokens.verifier import verifier_from_settings
from airlock.db import LogChunk, TaskInstance, XCom
from airlock.execution.access import LOG_FLUSH_GRACE_S
from airlock.models.states import TaskInstanceState

from .conftest import ExecEnv, task

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def start_body(hostname: str = "host-1", pid: int = 100) -> dict[str, Any]:
    return {"hostname": hostname, "pid": pid, "start_date": NOW.isoformat()}


def end(state: str, **fields: Any) -> dict[str, Any]:
    return {"state": state, "end_date": NOW.isoformat(), **fields}


@pytest.fixture
def queued(env: ExecEnv) -> tuple[str, str]:
    """A queued task instance of bundle team-a and its task token."""
    env.add_dag("runner", tasks=[task("t1"), task("t2")])
    env.add_run("runner")
    ti_id = env.add_ti("runner", "t1", max_tries=1)
    return ti_id, env.task_token(ti_id)


def start(env: ExecEnv, ti_id: str, token: str, **body: Any) -> Any:
    return env.call("PATCH", f"/task-instances/{ti_id}/run", token, start_body(**body))


# --- run ------------------------------------------------------------------------------------


def test_run_moves_queued_to_running_and_counts_the_try(
    env: ExecEnv, queued: tuple[str, str]
) -> None:
    ti_id, token = queued
    response = start(env, ti_id, token)
    assert response.status_code == 200, response.text
    context = response.json()
    assert context["try_number"] == 1
    assert context["max_tries"] == 1
    assert context["dag_run"]["run_id"] == "manual__1"
    ti = env.ti(ti_id)
    assert ti.state is TaskInstanceState.RUNNING
    assert (ti.hostname, ti.pid, ti.start_date, ti.try_number) == ("host-1", 100, NOW, 1)
    assert ti.last_heartbeat_at is not None


def test_run_repeated_by_the_same_process_answers_the_same_without_a_second_try(
    env: ExecEnv, queued: tuple[str, str]
) -> None:
    ti_id, token = queued
    first = start(env, ti_id, token).json()
    again = start(env, ti_id, token)
    assert again.status_code == 200
    assert again.json() == first
    assert env.ti(ti_id).try_number == 1


def test_run_from_another_process_or_a_finished_task_is_409(
    env: ExecEnv, queued: tuple[str, str], expect_problem: Any
) -> None:
    ti_id, token = queued
    start(env, ti_id, token)
    body = expect_problem(start(env, ti_id, token, pid=999), 409, "running by host-1 (pid 100)")
    assert body["current_state"] == "running"
    env.set_state(ti_id, TaskInstanceState.SUCCESS)
    expect_problem(start(env, ti_id, token), 409, "is success")
    assert env.ti(ti_id).try_number == 1


@pytest.mark.parametrize("state", [TaskInstanceState.SCHEDULED, TaskInstanceState.FAILED, None])
def test_only_a_queued_task_starts(
    env: ExecEnv, queued: tuple[str, str], expect_problem: Any, state: TaskInstanceState | None
) -> None:
    ti_id, token = queued
    env.set_state(ti_id, state)  # type: ignore[arg-type]
    expect_problem(start(env, ti_id, token), 409, "only a queued task can start")
    assert env.ti(ti_id).try_number == 0


def test_a_timestamp_without_zone_is_422(
    env: ExecEnv, queued: tuple[str, str], expect_problem: Any
) -> None:
    ti_id, token = queued
    body = {"hostname": "h", "pid": 1, "start_date": "2026-05-01T12:00:00"}
    response = env.call("PATCH", f"/task-instances/{ti_id}/run", token, body)
    expect_problem(response, 422, "start_date has no time zone")


# --- heartbeat ------------------------------------------------------------------------------


def heartbeat(env: ExecEnv, ti_id: str, token: str, pid: int = 100) -> dict[str, Any]:
    response = env.call(
        "PUT", f"/task-instances/{ti_id}/heartbeat", token, {"hostname": "host-1", "pid": pid}
    )
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def test_heartbeat_records_life_and_says_keep_running(
    env: ExecEnv, queued: tuple[str, str]
) -> None:
    ti_id, token = queued
    start(env, ti_id, token)
    before = env.ti(ti_id).last_heartbeat_at
    assert heartbeat(env, ti_id, token) == {"keep_running": True, "state": "running", "token": None}
    assert env.ti(ti_id).last_heartbeat_at > before  # type: ignore[operator]


def test_heartbeat_says_stop_once_the_task_was_failed_elsewhere(
    env: ExecEnv, queued: tuple[str, str]
) -> None:
    ti_id, token = queued
    start(env, ti_id, token)
    env.set_state(ti_id, TaskInstanceState.FAILED)  # e.g. marked failed by a user
    before = env.ti(ti_id).last_heartbeat_at
    reply = heartbeat(env, ti_id, token)
    assert reply["keep_running"] is False
    assert reply["state"] == "failed"
    assert reply["token"] is None
    assert env.ti(ti_id).last_heartbeat_at == before


def test_heartbeat_from_another_process_than_the_one_running_says_stop(
    env: ExecEnv, queued: tuple[str, str]
) -> None:
    ti_id, token = queued
    start(env, ti_id, token)
    assert heartbeat(env, ti_id, token, pid=4242)["keep_running"] is False


@pytest.mark.parametrize("env_options", [{"task_token_ttl_s": "600"}])
def test_heartbeat_refreshes_a_token_past_half_its_life(
    env: ExecEnv, queued: tuple[str, str]
) -> None:
    ti_id, _ = queued
    old = env.task_token(ti_id, ttl_s=200)  # under half of the 600 s lifetime left
    start(env, ti_id, old)
    fresh = heartbeat(env, ti_id, old)["token"]
    assert fresh
    verifier = verifier_from_settings(
        env.settings.public_key_path, issuer="airlock", leeway_s=0, is_revoked=None
    )
    claims = verifier.verify(fresh, "execution")
    assert (claims.kind, claims.sub, claims.dag_id, claims.run_id, claims.bundle) == (
        "task",
        ti_id,
        "runner",
        "manual__1",
        "team-a",
    )
    assert claims.exp - claims.iat == 600
    assert heartbeat(env, ti_id, fresh)["token"] is None, "a fresh token is not refreshed"


# --- final state ----------------------------------------------------------------------------


def finish(env: ExecEnv, ti_id: str, token: str, body: dict[str, Any]) -> Any:
    return env.call("PATCH", f"/task-instances/{ti_id}/state", token, body)


def test_success_is_applied_once_and_a_repeat_answers_the_same(
    env: ExecEnv, queued: tuple[str, str]
) -> None:
    ti_id, token = queued
    start(env, ti_id, token)
    first = finish(env, ti_id, token, end("success"))
    assert first.status_code == 200, first.text
    assert first.json() == {"state": "success"}
    again = finish(env, ti_id, token, end("success"))
    assert again.status_code == 200, again.text
    assert again.json() == {"state": "success"}
    assert env.ti(ti_id).state is TaskInstanceState.SUCCESS


def test_a_failure_with_tries_left_becomes_up_for_retry(
    env: ExecEnv, queued: tuple[str, str]
) -> None:
    ti_id, token = queued
    start(env, ti_id, token)
    response = finish(env, ti_id, token, end("failed", error="boom"))
    assert response.json() == {"state": "up_for_retry"}


def test_stale_and_out_of_order_state_calls_are_409(
    env: ExecEnv, queued: tuple[str, str], expect_problem: Any
) -> None:
    ti_id, token = queued
    expect_problem(finish(env, ti_id, token, end("success")), 409, "queued")  # before run
    start(env, ti_id, token)
    env.set_state(ti_id, TaskInstanceState.FAILED)  # the scheduler failed it meanwhile
    expect_problem(finish(env, ti_id, token, end("success")), 409, "failed")
    assert env.ti(ti_id).state is TaskInstanceState.FAILED


def test_a_burst_of_duplicate_and_conflicting_state_calls_moves_the_state_once(
    env: ExecEnv, queued: tuple[str, str]
) -> None:
    ti_id, token = queued
    start(env, ti_id, token)
    # Ended now: a retry due at once would move the task on before the assertions.
    at = dt.datetime.now(dt.UTC).isoformat()
    reports = [{"state": "success"}, {"state": "failed", "error": "x"}, {"state": "skipped"}]
    bodies = [report | {"end_date": at} for report in reports] * 8
    barrier = threading.Barrier(len(bodies))

    def send(body: dict[str, Any]) -> tuple[int, str | None]:
        barrier.wait()
        response = finish(env, ti_id, token, body)
        return response.status_code, response.json().get("state")

    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(send, bodies))
    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= {200, 409}, answers
    applied = {state for status, state in answers if status == 200}
    assert len(applied) == 1, f"the state moved more than once: {answers}"
    assert env.ti(ti_id).state == applied.pop()


def test_a_worker_token_may_not_set_a_state(
    env: ExecEnv, queued: tuple[str, str], expect_problem: Any
) -> None:
    ti_id, token = queued
    start(env, ti_id, token)
    expect_problem(finish(env, ti_id, env.worker_token(), end("success")), 403, "worker token")
    assert env.ti(ti_id).state is TaskInstanceState.RUNNING


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "run", start_body()),
        ("PUT", "heartbeat", {"hostname": "host-1", "pid": 100}),
        ("PATCH", "state", end("success")),
        ("POST", "logs", {"try_number": 1, "seq": 0, "lines": ["x"]}),
        ("PUT", "xcoms/k", {"key": "k", "value": 1}),
    ],
)
def test_a_task_token_touches_only_its_own_task_instance(
    env: ExecEnv,
    queued: tuple[str, str],
    expect_problem: Any,
    method: str,
    path: str,
    body: dict[str, Any],
) -> None:
    ti_id, _ = queued
    other = env.add_ti("runner", "t2")
    other_token = env.task_token(other)
    response = env.call(method, f"/task-instances/{ti_id}/{path}", other_token, body)
    expect_problem(response, 403, f"bound to task instance {other}, not {ti_id}")
    ti = env.ti(ti_id)
    assert (ti.state, ti.try_number) == (TaskInstanceState.QUEUED, 0)
    assert env.rows(LogChunk) == []
    assert env.rows(XCom) == []


# --- logs -----------------------------------------------------------------------------------


def send_logs(env: ExecEnv, ti_id: str, token: str, **batch: Any) -> Any:
    return env.call("POST", f"/task-instances/{ti_id}/logs", token, batch)


def test_a_log_batch_sent_twice_is_stored_once(env: ExecEnv, queued: tuple[str, str]) -> None:
    ti_id, token = queued
    start(env, ti_id, token)
    for seq, lines in [(0, ["a", "b"]), (0, ["a", "b"]), (1, ["c"]), (0, ["a", "b"])]:
        assert send_logs(env, ti_id, token, try_number=1, seq=seq, lines=lines).status_code == 204
    chunks = sorted(env.rows(LogChunk, task_instance_id=ti_id), key=lambda c: c.seq)
    assert [(c.try_number, c.seq, c.lines) for c in chunks] == [(1, 0, "a\nb"), (1, 1, "c")]


def test_concurrent_duplicate_log_batches_are_stored_once(
    env: ExecEnv, queued: tuple[str, str]
) -> None:
    ti_id, token = queued
    start(env, ti_id, token)
    barrier = threading.Barrier(10)

    def send(_: int) -> int:
        barrier.wait()
        return int(send_logs(env, ti_id, token, try_number=1, seq=7, lines=["x"]).status_code)

    with ThreadPoolExecutor(10) as pool:
        assert set(pool.map(send, range(10))) == {204}
    assert len(env.rows(LogChunk, task_instance_id=ti_id)) == 1


@pytest.mark.parametrize(
    "batch",
    [
        {"try_number": 1, "seq": 0, "lines": ["nul \u0000 byte"]},
        {"try_number": 1, "seq": 2**40, "lines": ["x"]},
    ],
)
def test_a_log_batch_the_db_cannot_store_is_422_not_500(
    env: ExecEnv, queued: tuple[str, str], expect_problem: Any, batch: dict[str, Any]
) -> None:
    ti_id, token = queued
    response = send_logs(env, ti_id, token, **batch)
    if env.db.engine.dialect.name == "sqlite":  # SQLite stores both
        assert response.status_code == 204
    else:
        expect_problem(response, 422, "cannot be stored")


def test_logs_of_a_try_that_never_started_are_422(
    env: ExecEnv, queued: tuple[str, str], expect_problem: Any
) -> None:
    ti_id, token = queued
    # Before /run the runner may log for the try it is about to start (1), not beyond.
    assert send_logs(env, ti_id, token, try_number=1, seq=0, lines=["early"]).status_code == 204
    response = send_logs(env, ti_id, token, try_number=2, seq=0, lines=["x"])
    expect_problem(response, 422, "try_number 2 is not a try")


# --- XCom push ------------------------------------------------------------------------------


def test_xcom_push_stores_json_for_its_own_task_and_replaces_on_repeat(
    env: ExecEnv, queued: tuple[str, str]
) -> None:
    ti_id, token = queued
    start(env, ti_id, token)
    for value in ({"rows": [1, 2]}, {"rows": [3]}):
        body = {"key": "return_value", "value": value}
        response = env.call("PUT", f"/task-instances/{ti_id}/xcoms/return_value", token, body)
        assert response.status_code == 204, response.text
    (row,) = env.rows(XCom, dag_id="runner")
    assert (row.run_id, row.task_id, row.map_index, row.key) == (
        "manual__1",
        "t1",
        -1,
        "return_value",
    )
    assert row.value == '{"rows":[3]}'


def test_a_token_writes_no_xcom_before_its_try_runs_nor_after_it_ended(
    env: ExecEnv, queued: tuple[str, str], expect_problem: Any
) -> None:
    ti_id, _ = queued
    token = env.task_token(ti_id, try_number=1)
    body = {"key": "k", "value": 1}
    path = f"/task-instances/{ti_id}/xcoms/k"
    expect_problem(env.call("PUT", path, token, body), 409, "try 1 of task instance")
    start(env, ti_id, token)
    assert env.call("PUT", path, token, body).status_code == 204
    assert finish(env, ti_id, token, end("success")).status_code == 200
    late = env.call("PUT", path, token, {"key": "k", "value": "overwritten"})
    expect_problem(late, 409, "is success on try 1")
    (row,) = env.rows(XCom, dag_id="runner")
    assert row.value == "1"


def test_logs_are_taken_shortly_after_the_try_ended_then_refused(
    env: ExecEnv, queued: tuple[str, str], expect_problem: Any
) -> None:
    ti_id, _ = queued
    token = env.task_token(ti_id, try_number=1)
    start(env, ti_id, token)
    ended = end("success", end_date=dt.datetime.now(dt.UTC).isoformat())
    assert finish(env, ti_id, token, ended).status_code == 200
    flush = send_logs(env, ti_id, token, try_number=1, seq=0, lines=["last words"])
    assert flush.status_code == 204, flush.text
    with env.session() as session:
        row = session.get_one(TaskInstance, ti_id)
        row.end_date = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=LOG_FLUSH_GRACE_S + 1)
        session.commit()
    late = send_logs(env, ti_id, token, try_number=1, seq=1, lines=["forged"])
    expect_problem(late, 409, "is not running")
    assert [c.lines for c in env.rows(LogChunk, task_instance_id=ti_id)] == ["last words"]


def test_a_deferred_try_still_takes_its_last_log_lines(
    env: ExecEnv, queued: tuple[str, str]
) -> None:
    ti_id, _ = queued
    token = env.task_token(ti_id, try_number=1)
    start(env, ti_id, token)
    deferred = {"state": "deferred", "trigger_classpath": "x.Trigger"}
    assert finish(env, ti_id, token, deferred).json() == {"state": "deferred"}
    flush = send_logs(env, ti_id, token, try_number=1, seq=0, lines=["deferring"])
    assert flush.status_code == 204, flush.text


def test_a_token_logs_only_into_its_own_try(
    env: ExecEnv, queued: tuple[str, str], expect_problem: Any
) -> None:
    ti_id, _ = queued
    token = env.task_token(ti_id, try_number=1)
    start(env, ti_id, token)
    other = send_logs(env, ti_id, token, try_number=2, seq=0, lines=["x"])
    expect_problem(other, 422, "not the try this task token runs (1)")
    # Cleared and started again as try 2: try 1's token is over.
    with env.session() as session:
        session.get_one(TaskInstance, ti_id).state = TaskInstanceState.QUEUED
        session.commit()
    start(env, ti_id, env.task_token(ti_id, try_number=2), hostname="host-2", pid=200)
    late = send_logs(env, ti_id, token, try_number=1, seq=5, lines=["x"])
    expect_problem(late, 409, "try 1 of task instance")


def test_xcom_push_with_mismatched_keys_is_422(
    env: ExecEnv, queued: tuple[str, str], expect_problem: Any
) -> None:
    ti_id, token = queued
    response = env.call("PUT", f"/task-instances/{ti_id}/xcoms/a", token, {"key": "b", "value": 1})
    expect_problem(response, 422, "body names key 'b' but the path names 'a'")


def test_state_of_a_deleted_task_instance_is_404(
    env: ExecEnv, queued: tuple[str, str], expect_problem: Any
) -> None:
    ti_id, token = queued
    with env.session() as session:
        session.delete(session.get_one(TaskInstance, ti_id))
        session.commit()
    expect_problem(start(env, ti_id, token), 404, "does not exist")
    reply = env.call(
        "PUT", f"/task-instances/{ti_id}/heartbeat", token, {"hostname": "h", "pid": 1}
    )
    expect_problem(reply, 404, "does not exist")


def test_a_report_from_a_try_that_is_over_never_lands_on_the_try_running_now(
    env: ExecEnv, queued: tuple[str, str]
) -> None:
    ti_id, _ = queued
    old = env.task_token(ti_id, try_number=1)
    assert start(env, ti_id, old).status_code == 200
    # Cleared while it ran, queued again and started by another worker as try 2.
    with env.session() as session:
        session.get_one(TaskInstance, ti_id).state = TaskInstanceState.QUEUED
        session.commit()
    new = env.task_token(ti_id, try_number=2)
    assert start(env, ti_id, new, hostname="host-2", pid=200).status_code == 200
    late = finish(env, ti_id, old, end("success"))
    assert late.status_code == 409, late.text
    assert "try 1" in late.json()["detail"]
    assert env.ti(ti_id).state is TaskInstanceState.RUNNING
    assert finish(env, ti_id, new, end("success")).json() == {"state": "success"}
