"""``POST /workloads/confirm``: a worker confirms the starts one poll brought, in one call; a
start given back before its confirmation arrives (a lost hand-out) stays given back."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import httpx
import msgspec

from airlock.models.execution import StartConfirmation, StartToConfirm, Workload
from airlock.models.states import TaskInstanceState
from airlock.scheduling import return_unconfirmed
from airlock.sdk.api import ExecutionClient, RetryPolicy, shared_http_client
from airlock.worker.start_confirmation import PollStarts

from .conftest import ExecEnv, task
from .test_workloads import poll


def confirm(
    env: ExecEnv, starts: list[dict[str, Any]], token: str | None = None, **body: Any
) -> httpx.Response:
    request = {"hostname": "box", "pid": 42, "starts": starts} | body
    return env.call("POST", "/workloads/confirm", token or env.worker_token(), request)


def starts_of(workloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"ti_id": w["ti"]["id"], "token": w["token"]} for w in workloads]


def give_back_unconfirmed(env: ExecEnv, after_s: float) -> int:
    with env.session() as session:
        now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=after_s)
        count = return_unconfirmed(session, now, 10.0)
        session.commit()
    return count


def test_one_call_confirms_every_start_of_a_poll(env: ExecEnv) -> None:
    env.add_dag("confirm_all", tasks=[task("a"), task("b")])
    env.add_run("confirm_all")
    ids = {env.add_ti("confirm_all", "a"), env.add_ti("confirm_all", "b")}
    workloads = poll(env, slots=2, start=2, hostname="box", pid=42)
    assert {w["ti"]["id"] for w in workloads} == ids
    assert all(env.ti(i).claimed_by is not None for i in ids), "unconfirmed until confirmed"
    reply = confirm(env, starts_of(workloads))
    assert reply.status_code == 200, reply.text
    assert reply.json()["starts"] == [
        {"ti_id": w["ti"]["id"], "keep_running": True, "state": None, "detail": None}
        for w in workloads
    ]
    for ti_id in ids:
        ti = env.ti(ti_id)
        assert (ti.state, ti.claimed_by, ti.hostname, ti.pid) == (
            TaskInstanceState.RUNNING,
            None,
            "box",
            42,
        )
        assert ti.last_heartbeat_at is not None
    # A confirmed start is never given back; confirming it again changes nothing.
    assert give_back_unconfirmed(env, after_s=60) == 0
    assert all(s["keep_running"] for s in confirm(env, starts_of(workloads)).json()["starts"])


def test_a_start_given_back_before_its_confirmation_stays_given_back(env: ExecEnv) -> None:
    """The hand-out's reply was lost (or came too late): the deadline gave the start back, and
    the late confirmation answers no, so the task does not run where it was lost."""
    env.add_dag("lost", tasks=[task("a"), task("b")])
    env.add_run("lost")
    env.add_ti("lost", "a", priority_weight=2)
    env.add_ti("lost", "b", priority_weight=1)
    lost, kept = poll(env, slots=2, start=2, hostname="box", pid=42)
    # Only the first start passes its deadline (its claim time set back).
    env.set_state(
        lost["ti"]["id"],
        TaskInstanceState.RUNNING,
        claimed_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30),
    )
    assert give_back_unconfirmed(env, after_s=0) == 1
    assert env.ti(lost["ti"]["id"]).state is TaskInstanceState.QUEUED
    answers = confirm(env, starts_of([lost, kept])).json()["starts"]
    assert answers[0]["keep_running"] is False
    assert answers[0]["state"] == "queued"
    assert answers[1]["keep_running"] is True
    # Handed out again, to another worker: the first hand-out's token confirms nothing.
    (again,) = poll(env, slots=1, start=1, hostname="other", pid=7, worker="w2")
    assert again["ti"]["id"] == lost["ti"]["id"]
    stale = confirm(env, starts_of([lost]), hostname="other", pid=7).json()["starts"]
    assert stale[0]["keep_running"] is False
    assert env.ti(lost["ti"]["id"]).claimed_by == "w2", "still the second hand-out's, unconfirmed"
    fresh = confirm(env, starts_of([again]), hostname="other", pid=7).json()["starts"]
    assert fresh[0]["keep_running"] is True


def test_a_start_is_confirmed_only_with_its_own_task_token_by_the_worker_it_went_to(
    env: ExecEnv,
) -> None:
    env.add_dag("tokens", tasks=[task("a"), task("b")])
    env.add_run("tokens")
    env.add_ti("tokens", "a")
    env.add_ti("tokens", "b")
    first, second = poll(env, slots=2, start=2, hostname="box", pid=42)
    swapped = [{"ti_id": first["ti"]["id"], "token": second["token"]}]
    (answer,) = confirm(env, swapped).json()["starts"]
    assert answer == {
        "ti_id": first["ti"]["id"],
        "keep_running": False,
        "state": None,
        "detail": "the token given is not this task's task token",
    }
    forged = [{"ti_id": first["ti"]["id"], "token": "not.a.token"}]
    (answer,) = confirm(env, forged).json()["starts"]
    assert answer["keep_running"] is False
    assert "task token was refused" in answer["detail"]
    # Another supervisor (hostname or pid) cannot confirm what was started under this one.
    (answer,) = confirm(env, starts_of([first]), pid=43).json()["starts"]
    assert answer["keep_running"] is False
    assert env.ti(first["ti"]["id"]).claimed_by is not None
    # A token the hand-out did not start a task with has nothing to confirm.
    plain = env.task_token(second["ti"]["id"], try_number=1)
    (answer,) = confirm(env, [{"ti_id": second["ti"]["id"], "token": plain}]).json()["starts"]
    assert answer["keep_running"] is False
    assert "did not start this task" in answer["detail"]


def test_only_a_worker_token_may_confirm_and_bad_bodies_get_422(env: ExecEnv) -> None:
    env.add_dag("guard", tasks=[task("a")])
    env.add_run("guard")
    env.add_ti("guard", "a")
    (workload,) = poll(env, slots=1, start=1, hostname="box", pid=42)
    refused = confirm(env, starts_of([workload]), token=workload["token"])
    assert refused.status_code == 403, refused.text
    assert env.ti(workload["ti"]["id"]).claimed_by is not None
    assert confirm(env, []).status_code == 422
    assert confirm(env, starts_of([workload]), pid=0).status_code == 422
    assert confirm(env, starts_of([workload]), hostname="").status_code == 422


def test_the_sdk_confirms_starts(env: ExecEnv) -> None:
    env.add_dag("sdk", tasks=[task("a")])
    env.add_run("sdk")
    env.add_ti("sdk", "a")
    (workload,) = poll(env, slots=1, start=1, hostname="box", pid=42)
    client = env.sdk(env.worker_token())
    reply = client.confirm_starts(
        StartConfirmation(
            hostname="box",
            pid=42,
            starts=[StartToConfirm(ti_id=workload["ti"]["id"], token=workload["token"])],
        )
    )
    assert [s.keep_running for s in reply.starts] == [True]
    assert env.ti(workload["ti"]["id"]).claimed_by is None


def test_the_worker_runs_only_what_the_confirmation_kept(env: ExecEnv) -> None:
    """The worker's side (``airlock.worker.start_confirmation``) against this endpoint: a start
    the deadline gave back before the poll's confirmation arrived is one whose task must not
    run; the other start of the same poll runs."""
    env.add_dag("worker_side", tasks=[task("a"), task("b")])
    env.add_run("worker_side")
    env.add_ti("worker_side", "a", priority_weight=2)
    env.add_ti("worker_side", "b", priority_weight=1)
    handed = msgspec.convert(poll(env, slots=2, start=2, hostname="box", pid=42), list[Workload])
    lost, kept = handed
    env.set_state(
        lost.ti.id,
        TaskInstanceState.RUNNING,
        claimed_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30),
    )
    assert give_back_unconfirmed(env, after_s=0) == 1
    starts = PollStarts(handed, "box", 42)
    http = shared_http_client("http://testserver", transport=env.transport())
    starts.send(lambda: ExecutionClient("", env.worker_token(), http=http), threading.Event())
    why = starts.wait(lost.ti.id)
    assert why is not None
    assert "gave its start back" in why
    assert "queued" in why
    assert starts.wait(kept.ti.id) is None
    assert env.ti(kept.ti.id).claimed_by is None


def test_a_confirmation_that_cannot_reach_the_api_lets_nothing_run(env: ExecEnv) -> None:
    env.add_dag("unreachable", tasks=[task("a")])
    env.add_run("unreachable")
    env.add_ti("unreachable", "a")
    (workload,) = msgspec.convert(
        poll(env, slots=1, start=1, hostname="box", pid=42), list[Workload]
    )
    starts = PollStarts([workload], "box", 42)
    stopping = threading.Event()
    stopping.set()  # the worker is stopping: one attempt, then give up
    starts.send(
        lambda: ExecutionClient(
            "http://127.0.0.1:9", env.worker_token(), retry=RetryPolicy(attempts=1)
        ),
        stopping,
    )
    why = starts.wait(workload.ti.id)
    assert why is not None
    assert "could not be confirmed" in why
