"""Workload hand-out: what a worker's long-poll claims, in which order, how fast it wakes, and
that no task is ever handed to two polls."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import update

from airlock.core.tokens import TokenKind
from airlock.core.tokens.verifier import verifier_from_settings
from airlock.db import DagVersion, TaskInstance, Worker
from airlock.execution.notifier import work_queued
from airlock.models.states import DagRunState, TaskInstanceState

from .conftest import ExecEnv, task


def poll(env: ExecEnv, token: str | None = None, **request: Any) -> list[dict[str, Any]]:
    body = {"worker": "w1", "wait_s": 0} | request
    response = env.call("POST", "/workloads/next", token or env.worker_token(), body)
    assert response.status_code == 200, response.text
    workloads: list[dict[str, Any]] = response.json()["workloads"]
    return workloads


def test_claim_records_the_worker_and_its_heartbeat(env: ExecEnv) -> None:
    env.add_dag("claims")
    env.add_run("claims")
    ti_id = env.add_ti("claims")
    poll(env, worker="box-7", queues=["default", "io"])
    claimed = env.ti(ti_id)
    assert claimed.claimed_by == "box-7"
    assert claimed.claimed_at is not None
    assert claimed.state is TaskInstanceState.QUEUED, "a claim is a lease, not a state"
    (worker,) = env.rows(Worker, name="box-7")
    assert worker.queues == ["default", "io"]
    before = worker.last_heartbeat_at
    poll(env, worker="box-7", queues=["default"])
    (worker,) = env.rows(Worker, name="box-7")
    assert worker.last_heartbeat_at > before
    assert worker.queues == ["default"]


def test_workload_describes_its_task_and_carries_a_token_bound_to_it(env: ExecEnv) -> None:
    env.add_dag(
        "described",
        bundle="team-b",
        tasks=[task("slow", execution_timeout=90.0), task("mapped")],
    )
    env.add_run("described", conf={"x": 1})
    slow = env.add_ti("described", "slow", max_tries=2, pool="small")
    for index in range(3):
        env.add_ti("described", "mapped", map_index=index, priority_weight=0)

    workloads = poll(env, slots=10)
    by_task = {(w["ti"]["task_id"], w["ti"]["map_index"]): w for w in workloads}
    assert len(by_task) == 4
    first = by_task[("slow", -1)]
    assert first["ti"] | {"id": None} == {
        "id": None,
        "dag_id": "described",
        "run_id": "manual__1",
        "task_id": "slow",
        "map_index": -1,
        "try_number": 1,
        "max_tries": 2,
        "queue": "default",
        "pool": "small",
    }
    assert first["bundle"] == "team-b"
    assert first["dag_rel_path"] == "described.py"
    assert first["execution_timeout_s"] == 90.0
    assert first["map_length"] is None
    assert first["dag_run"]["conf"] == {"x": 1}
    assert {by_task[("mapped", i)]["map_length"] for i in range(3)} == {3}

    verifier = verifier_from_settings(
        env.settings.public_key_path, issuer="airlock", leeway_s=0, is_revoked=None
    )
    claims = verifier.verify(first["token"], "execution")
    assert claims.kind is TokenKind.TASK
    assert (claims.sub, claims.dag_id, claims.run_id, claims.bundle) == (
        slow,
        "described",
        "manual__1",
        "team-b",
    )
    assert claims.exp - claims.iat == env.settings.execution.task_token_ttl_s


@pytest.mark.parametrize("env_options", [{"max_wait_s": "0.3"}])
def test_an_empty_poll_waits_at_most_max_wait_s(env: ExecEnv) -> None:
    started = time.monotonic()
    assert poll(env, wait_s=30) == []
    assert 0.25 <= time.monotonic() - started < 2


def test_an_empty_poll_waits_wait_s(env: ExecEnv) -> None:
    started = time.monotonic()
    assert poll(env, wait_s=0.3) == []
    assert 0.25 <= time.monotonic() - started < 2


def _poll_in_background(env: ExecEnv, wait_s: float) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def run() -> None:
        result["workloads"] = poll(env, wait_s=wait_s)
        result["at"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.3)  # the poll has found nothing and waits
    return thread, result


@pytest.mark.parametrize("env_options", [{"poll_interval_ms": "10000"}])
def test_a_waiting_poll_wakes_at_once_when_this_process_queues_work(env: ExecEnv) -> None:
    """The re-check interval is 10 s here: only the notifier can wake the poll in time."""
    env.add_dag("wake", tasks=[task("warm-up"), task("t1")])
    env.add_run("wake")
    env.add_ti("wake", "warm-up")
    assert len(poll(env)) == 1  # the first hand-out decodes the DAG; time the next one
    thread, result = _poll_in_background(env, wait_s=20)
    ti_id = env.add_ti("wake")
    queued_at = time.monotonic()
    work_queued.notify()
    thread.join(10)
    assert [w["ti"]["id"] for w in result["workloads"]] == [ti_id]
    assert result["at"] - queued_at < 0.5  # the DB re-check is 10 s away


@pytest.mark.parametrize("env_options", [{"poll_interval_ms": "50"}])
def test_a_waiting_poll_finds_work_queued_by_another_process(env: ExecEnv) -> None:
    """No notification (another process queued it): the DB re-check finds it."""
    env.add_dag("recheck", tasks=[task("warm-up"), task("t1")])
    env.add_run("recheck")
    env.add_ti("recheck", "warm-up")
    assert len(poll(env)) == 1  # the first hand-out decodes the DAG; time the next one
    thread, result = _poll_in_background(env, wait_s=20)
    ti_id = env.add_ti("recheck")
    queued_at = time.monotonic()
    thread.join(10)
    assert [w["ti"]["id"] for w in result["workloads"]] == [ti_id]
    assert result["at"] - queued_at < 1.0  # re-checks every 50 ms, out of a 20 s wait


def test_concurrent_polls_never_receive_the_same_task(env: ExecEnv) -> None:
    env.add_dag("race", tasks=[task(f"t{i}") for i in range(60)])
    env.add_run("race")
    ids = {env.add_ti("race", f"t{i}", priority_weight=i % 4) for i in range(60)}
    tokens = [env.worker_token(f"w{n}") for n in range(8)]
    barrier = threading.Barrier(len(tokens))

    def drain(token: str) -> list[str]:
        barrier.wait()
        got: list[str] = []
        while batch := poll(env, token, worker=token[-12:], slots=3, wait_s=0):
            got += [w["ti"]["id"] for w in batch]
        return got

    with ThreadPoolExecutor(len(tokens)) as pool:
        handed = [ti for got in pool.map(drain, tokens) for ti in got]
    assert Counter(handed).most_common(1)[0][1] == 1, "a task was handed out twice"
    assert set(handed) == ids
    assert {ti.claimed_by for ti in env.rows(TaskInstance, dag_id="race")} <= {
        t[-12:] for t in tokens
    }


def test_only_a_worker_token_gets_workloads(env: ExecEnv, expect_problem: Any) -> None:
    env.add_dag("kinds")
    env.add_run("kinds")
    ti_id = env.add_ti("kinds")
    body = {"worker": "w1", "wait_s": 0}
    expect_problem(
        env.call("POST", "/workloads/next", env.task_token(ti_id), body), 403, "task token"
    )
    assert env.ti(ti_id).claimed_by is None


def test_a_worker_token_for_some_queues_may_not_ask_for_others(
    env: ExecEnv, expect_problem: Any
) -> None:
    token = env.worker_token("w1", queues=["default"])
    assert env.call("POST", "/workloads/next", token, {"worker": "w1", "wait_s": 0}).is_success
    response = env.call(
        "POST", "/workloads/next", token, {"worker": "w1", "queues": ["gpu"], "wait_s": 0}
    )
    expect_problem(response, 403, "'gpu'")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"worker": "w1", "slots": 0}, "slots"),
        ({"worker": "w1", "wait_s": -1}, "wait_s"),
        ({"worker": "w1", "queues": []}, "queues"),
        ({"worker": ""}, "worker"),
        ({"slots": 1}, "worker"),
        ({"worker": "w1", "slots": "many"}, "slots"),
        ({"worker": "w1", "slots": 2, "start": 3, "hostname": "h", "pid": 1}, "start"),
        ({"worker": "w1", "start": -1}, "start"),
        ({"worker": "w1", "start": 1}, "hostname"),
        ({"worker": "w1", "start": 1, "hostname": "h"}, "pid"),
        ({"worker": "w1", "start": 1, "hostname": "h", "pid": 0}, "pid"),
        ({"worker": "w1", "start": 1, "hostname": "h" * 1001, "pid": 1}, "hostname"),
    ],
)
def test_bad_requests_are_422(
    env: ExecEnv, expect_problem: Any, body: dict[str, Any], says: str
) -> None:
    expect_problem(env.call("POST", "/workloads/next", env.worker_token(), body), 422, says)


@pytest.mark.parametrize("env_options", [{"poll_interval_ms": "10000"}])
def test_finishing_a_task_hands_the_next_one_to_a_waiting_poll_at_once(env: ExecEnv) -> None:
    """Task hand-off: the success report queues the downstream task in the same transaction and
    the commit wakes the waiting poll (the DB re-check is 10 s away)."""
    env.add_dag(
        "chain", tasks=[task("first", downstream=["second"]), task("second", upstream=["first"])]
    )
    trigger = env.call("POST", "/dag-runs/chain", _any_task_token(env, "chain"), {"run_id": "r1"})
    assert trigger.status_code == 201, trigger.text
    (first,) = poll(env)
    assert first["ti"]["task_id"] == "first"
    ti_id, token = first["ti"]["id"], first["token"]
    start = {"hostname": "h", "pid": 1, "start_date": dt.datetime.now(dt.UTC).isoformat()}
    assert env.call("PATCH", f"/task-instances/{ti_id}/run", token, start).status_code == 200

    thread, result = _poll_in_background(env, wait_s=20)
    done = {"state": "success", "end_date": dt.datetime.now(dt.UTC).isoformat()}
    finished = env.call("PATCH", f"/task-instances/{ti_id}/state", token, done)
    reported_at = time.monotonic()
    assert finished.json() == {"state": "success"}
    thread.join(10)
    assert [w["ti"]["task_id"] for w in result["workloads"]] == ["second"]
    assert result["at"] - reported_at < 0.5


def _any_task_token(env: ExecEnv, dag_id: str) -> str:
    """A task token of the DAG's bundle (trigger needs one); its task instance is irrelevant."""
    env.add_run(dag_id, "seed", state=DagRunState.SUCCESS)
    return env.task_token(env.add_ti(dag_id, "first", "seed", state=TaskInstanceState.SUCCESS))


def test_a_poll_can_start_the_tasks_it_runs_at_once(env: ExecEnv) -> None:
    """``start``: the first workloads (by priority) come back running under the poller's host
    and pid, with what ``PATCH …/run`` would answer; the rest are only claimed."""
    env.add_dag("eager", tasks=[task(f"t{i}") for i in range(3)])
    env.add_run("eager", conf={"k": "v"})
    first = env.add_ti("eager", "t0", priority_weight=9)
    second = env.add_ti("eager", "t1", priority_weight=5, max_tries=2)
    third = env.add_ti("eager", "t2", priority_weight=1)

    batch = poll(env, slots=3, start=2, hostname="box-1", pid=4321)
    assert [w["ti"]["id"] for w in batch] == [first, second, third]
    started, also_started, claimed = batch
    assert started["context"]["try_number"] == started["ti"]["try_number"] == 1
    assert started["context"]["dag_run"]["conf"] == {"k": "v"}
    assert also_started["context"]["max_tries"] == 2
    assert also_started["context"]["should_retry"] is True
    assert claimed["context"] is None
    for ti_id in (first, second):
        ti = env.ti(ti_id)
        assert (ti.state, ti.try_number, ti.hostname, ti.pid) == (
            TaskInstanceState.RUNNING,
            1,
            "box-1",
            4321,
        )
        assert ti.start_date is not None
        assert ti.last_heartbeat_at is not None
    assert env.ti(third).state is TaskInstanceState.QUEUED

    # The started task is its runner's: its heartbeat (same host and pid) keeps it, a start
    # call from elsewhere is refused, and its token ends it.
    token = started["token"]
    beat = env.call(
        "PUT", f"/task-instances/{first}/heartbeat", token, {"hostname": "box-1", "pid": 4321}
    )
    assert beat.json()["keep_running"] is True
    # Its runner names the task's own process, which becomes the recorded pid.
    named = {"hostname": "box-1", "pid": 4321, "task_pid": 5555}
    beat = env.call("PUT", f"/task-instances/{first}/heartbeat", token, named)
    assert beat.json()["keep_running"] is True, beat.text
    assert env.ti(first).pid == 5555
    for body in (named, {"hostname": "box-1", "pid": 5555}):
        beat = env.call("PUT", f"/task-instances/{first}/heartbeat", token, body)
        assert beat.json()["keep_running"] is True
    elsewhere = {"hostname": "box-2", "pid": 5555}
    beat = env.call("PUT", f"/task-instances/{first}/heartbeat", token, elsewhere)
    assert beat.json()["keep_running"] is False
    again = {"hostname": "other", "pid": 1, "start_date": dt.datetime.now(dt.UTC).isoformat()}
    assert env.call("PATCH", f"/task-instances/{first}/run", token, again).status_code == 409
    done = {"state": "success", "end_date": dt.datetime.now(dt.UTC).isoformat()}
    ended = env.call("PATCH", f"/task-instances/{first}/state", token, done)
    assert ended.json() == {"state": "success"}
    # An outcome names the process that ran the try (the hand-out recorded its supervisor).
    failed = {"state": "failed", "end_date": dt.datetime.now(dt.UTC).isoformat(), "pid": 777}
    ended = env.call("PATCH", f"/task-instances/{second}/state", also_started["token"], failed)
    assert ended.json() == {"state": "up_for_retry"}
    assert env.ti(second).pid == 777
    # The one only claimed starts the usual way.
    start = {"hostname": "box-1", "pid": 99, "start_date": dt.datetime.now(dt.UTC).isoformat()}
    assert env.call("PATCH", f"/task-instances/{third}/run", claimed["token"], start).is_success


def test_a_started_hand_out_is_confirmed_by_the_first_heartbeat_of_its_hand_out(
    env: ExecEnv,
) -> None:
    """The hand-out's start keeps the claim until its runner's first heartbeat; the task token
    names the hand-out (its claim epoch) only for a start of the hand-out's."""
    env.add_dag("confirm", tasks=[task("a"), task("b")])
    env.add_run("confirm")
    a = env.add_ti("confirm", "a", priority_weight=2)
    b = env.add_ti("confirm", "b", priority_weight=1)
    started, claimed = poll(env, slots=2, start=1, hostname="box", pid=42)
    verifier = verifier_from_settings(
        env.settings.public_key_path, issuer="airlock", leeway_s=0, is_revoked=None
    )
    assert verifier.verify(started["token"], "execution").claim_epoch == env.ti(a).claim_epoch
    assert verifier.verify(claimed["token"], "execution").claim_epoch is None
    assert env.ti(a).claimed_by is not None  # unconfirmed
    beat = env.call(
        "PUT",
        f"/task-instances/{a}/heartbeat",
        started["token"],
        {"hostname": "box", "pid": 42, "task_pid": 43},
    )
    assert beat.json()["keep_running"] is True, beat.text
    assert (env.ti(a).claimed_by, env.ti(a).pid) == (None, 43)
    start = {"hostname": "box", "pid": 44, "start_date": dt.datetime.now(dt.UTC).isoformat()}
    assert env.call("PATCH", f"/task-instances/{b}/run", claimed["token"], start).is_success
    assert env.ti(b).claimed_by is None  # a runner that starts its task itself has it


def test_a_poll_that_starts_all_it_takes_gets_them_in_priority_order(env: ExecEnv) -> None:
    """(On PostgreSQL this is one statement: claim, start, XCom reset and read.)"""
    env.add_dag("all", tasks=[task("plain"), task("mapped"), task("elsewhere")])
    env.add_run("all", conf={"k": "v"})
    low = env.add_ti("all", "plain", priority_weight=1)
    mapped = [env.add_ti("all", "mapped", map_index=i, priority_weight=5) for i in range(2)]
    other = env.add_ti("all", "elsewhere", queue="other", priority_weight=3)
    env.add_ti("all", "elsewhere", queue="unasked", map_index=7, priority_weight=9)
    batch = poll(env, slots=4, start=4, hostname="box", pid=42, queues=["default", "other"])
    assert [w["ti"]["id"] for w in batch] == [*mapped, other, low]
    assert [w["map_length"] for w in batch] == [2, 2, None, None]
    for workload in batch:
        assert workload["context"]["try_number"] == workload["ti"]["try_number"] == 1
        assert workload["context"]["dag_run"]["conf"] == {"k": "v"}
        assert workload["bundle"] == "team-a"
        assert workload["dag_rel_path"] == "all.py"
        ti = env.ti(workload["ti"]["id"])
        assert (ti.state, ti.hostname, ti.pid, ti.claimed_by) == (
            TaskInstanceState.RUNNING,
            "box",
            42,
            "w1",
        )
    assert poll(env, slots=4, start=4, hostname="box", pid=42, queues=["default", "other"]) == []


def test_a_heartbeat_from_an_earlier_try_does_not_keep_the_new_one(env: ExecEnv) -> None:
    """Cleared and started again by the same supervisor (same host, same pid): the earlier try's
    runner, naming its task process, must not take over the new try."""
    env.add_dag("again", tasks=[task("t1")])
    env.add_run("again")
    ti_id = env.add_ti("again", "t1", max_tries=3)
    (first,) = poll(env, start=1, hostname="box-1", pid=4321)
    # Cleared, and queued again.
    env.set_state(ti_id, TaskInstanceState.QUEUED, queued_at=dt.datetime.now(dt.UTC))
    (second,) = poll(env, start=1, hostname="box-1", pid=4321)
    assert second["context"]["try_number"] == 2
    stale = {"hostname": "box-1", "pid": 4321, "task_pid": 1111}
    beat = env.call("PUT", f"/task-instances/{ti_id}/heartbeat", first["token"], stale)
    assert beat.json()["keep_running"] is False
    fresh = {"hostname": "box-1", "pid": 4321, "task_pid": 2222}
    beat = env.call("PUT", f"/task-instances/{ti_id}/heartbeat", second["token"], fresh)
    assert beat.json()["keep_running"] is True
    assert env.ti(ti_id).pid == 2222


def _poll_and_hang_up(env: ExecEnv, body: dict[str, Any]) -> list[dict[str, Any]]:
    """A poll whose worker closes the connection right after sending it; what the app sent."""
    payload = json.dumps(body).encode()
    token = env.worker_token()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/execution/workloads/next",
        "raw_path": b"/execution/workloads/next",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "state": {},
    }
    messages = [{"type": "http.request", "body": payload, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with env.client.portal() as portal:
        portal.call(env.app, scope, receive, send)
    return sent


def test_tasks_taken_for_a_worker_that_hung_up_are_given_back(env: ExecEnv) -> None:
    """The worker closed its poll's connection while the hand-out took tasks for it: the one
    started goes back to queued with its try uncounted, the one claimed loses its lease, and
    the next poll gets both, as if the first had never happened."""
    env.add_dag("gone", tasks=[task("t1"), task("t2")])
    env.add_run("gone")
    first = env.add_ti("gone", "t1", priority_weight=2)
    second = env.add_ti("gone", "t2", priority_weight=1)
    body = {"worker": "w1", "wait_s": 0, "slots": 2, "start": 1, "hostname": "h", "pid": 7}
    sent = _poll_and_hang_up(env, body)
    reply = json.loads(
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    )
    assert reply == {"workloads": []}
    for ti_id in (first, second):
        ti = env.ti(ti_id)
        assert (ti.state, ti.try_number, ti.claimed_by, ti.hostname, ti.pid) == (
            TaskInstanceState.QUEUED,
            0,
            None,
            None,
            None,
        )
    batch = poll(env, slots=2, start=2, hostname="h", pid=8)
    assert [(w["ti"]["id"], w["ti"]["try_number"]) for w in batch] == [(first, 1), (second, 1)]


def test_a_hand_out_that_fails_after_starting_its_tasks_gives_them_back(env: ExecEnv) -> None:
    """A stored DAG version that cannot be read fails the poll after the start (on PostgreSQL
    the start is committed by then) with a problem naming the DAG (``BadDagVersion``, 409, never
    a 500): the task is queued again, not left running."""
    version = env.add_dag("broken", tasks=[task("t1")])
    env.add_run("broken")
    ti_id = env.add_ti("broken", "t1")
    with env.session() as session:
        session.execute(
            update(DagVersion).where(DagVersion.id == version).values(blob=b"not a zstd frame")
        )
        session.commit()
    body = {"worker": "w1", "wait_s": 0, "slots": 1, "start": 1, "hostname": "h", "pid": 7}
    response = env.call("POST", "/workloads/next", env.worker_token(), body)
    assert response.status_code == 409
    assert "broken" in response.json()["detail"]
    ti = env.ti(ti_id)
    assert (ti.state, ti.try_number, ti.hostname, ti.pid) == (
        TaskInstanceState.QUEUED,
        0,
        None,
        None,
    )
