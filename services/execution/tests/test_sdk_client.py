"""``airlock.sdk.api.ExecutionClient`` against the real Execution API, in-process.

Faults are injected at the transport (the test seam): an answer lost after the server acted, or a
503 before it did. The client must retry what is safe to retry, never a 409, and every retried
call must leave the same result as one call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
import pytest

from airlock.db import DagRun, LogChunk, TaskInstance
from airlock.models.execution import (
    Heartbeat,
    LogBatch,
    TaskFailed,
    TaskStart,
    TaskSucceeded,
    TriggerDagRun,
    WorkloadRequest,
)
from airlock.models.states import TaskInstanceState
from airlock.sdk.api import ApiError, ExecutionClient, RetryPolicy

from .conftest import ExecEnv, task


class FaultyTransport(httpx.BaseTransport):
    """Passes requests to the app; ``fault(request, attempt)`` may break the exchange."""

    def __init__(
        self, inner: httpx.BaseTransport, fault: Callable[[httpx.Request, int], str | None]
    ) -> None:
        self.inner = inner
        self.fault = fault
        self.sent: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(f"{request.method} {request.url.path}")
        what = self.fault(request, len(self.sent))
        if what == "503":
            return httpx.Response(503, json={"detail": "injected"}, request=request)
        response = self.inner.handle_request(request)
        if what == "lose-answer":
            response.read()
            raise httpx.ReadError("connection reset (injected)", request=request)
        return response


def faulty(
    env: ExecEnv, token: str, fault: Callable[[httpx.Request, int], str | None]
) -> tuple[ExecutionClient, FaultyTransport]:
    transport = FaultyTransport(env.transport(), fault)
    client = ExecutionClient(
        "http://testserver", token, transport=transport, retry=RetryPolicy(first_backoff_s=0.01)
    )
    return client, transport


def first_attempt(what: str) -> Callable[[httpx.Request, int], str | None]:
    return lambda _request, attempt: what if attempt == 1 else None


@pytest.fixture
def chain(env: ExecEnv) -> None:
    env.add_dag(
        "sdk_dag",
        tasks=[task("first", downstream=["second"], retries=1), task("second", upstream=["first"])],
    )
    env.add_run("sdk_dag", "seed")
    env.add_ti("sdk_dag", "first", "seed", priority_weight=9, max_tries=1)


def test_a_task_lifecycle_through_the_sdk(env: ExecEnv, chain: None) -> None:
    worker = env.sdk(env.worker_token())
    (workload,) = worker.next_workloads(WorkloadRequest(worker="w1", wait_s=0)).workloads
    ti_id = workload.ti.id
    runner = env.sdk(workload.token)
    now = dt.datetime.now(dt.UTC)
    context = runner.start(ti_id, TaskStart(hostname="h", pid=7, start_date=now))
    assert (context.try_number, context.max_tries) == (1, 1)
    assert runner.heartbeat(ti_id, Heartbeat(hostname="h", pid=7)).keep_running
    runner.send_logs(ti_id, LogBatch(try_number=1, seq=0, lines=["hello"]))
    runner.push_xcom(ti_id, "return_value", {"rows": 3})
    assert runner.pull_xcom("sdk_dag", "seed", "first") == {"rows": 3}
    assert runner.pull_xcom("sdk_dag", "seed", "first", key="absent") is None
    assert runner.finish(ti_id, TaskSucceeded(end_date=now)).state is TaskInstanceState.SUCCESS
    assert [c.lines for c in env.rows(LogChunk, task_instance_id=ti_id)] == ["hello"]


def test_variables_connections_and_runs_through_the_sdk(env: ExecEnv, chain: None) -> None:
    ti_id = env.add_ti("sdk_dag", "second", "seed", state=TaskInstanceState.RUNNING)
    client = env.sdk(env.task_token(ti_id))
    assert client.get_variable("v") is None
    client.set_variable("v", "1", description="a counter")
    assert client.get_variable("v") == "1"
    client.delete_variable("v")
    client.delete_variable("v")  # already gone: not an error
    assert client.get_variable("v") is None
    assert client.get_connection("nope") is None
    run = client.get_dag_run("sdk_dag", "seed")
    assert run is not None
    assert run.run_id == "seed"
    assert client.get_dag_run("sdk_dag", "nope") is None
    assert client.previous_dag_run("sdk_dag", "seed") is None
    triggered = client.trigger_dag_run("sdk_dag", TriggerDagRun(conf={"n": 1}))
    assert triggered.run_id.startswith("manual__")
    assert triggered.conf == {"n": 1}
    assert client.previous_dag_run("sdk_dag", triggered.run_id) == run


def test_a_heartbeat_reply_with_a_fresh_token_is_adopted(env: ExecEnv, chain: None) -> None:
    ti_id = env.rows(TaskInstance, task_id="first")[0].id
    old = env.task_token(ti_id, ttl_s=60)  # far under half of the default 600 s
    client = env.sdk(old)
    client.start(ti_id, TaskStart(hostname="h", pid=1, start_date=dt.datetime.now(dt.UTC)))
    reply = client.heartbeat(ti_id, Heartbeat(hostname="h", pid=1))
    assert reply.token is not None
    assert client.token == reply.token != old
    assert client.heartbeat(ti_id, Heartbeat(hostname="h", pid=1)).keep_running


def test_calls_whose_answer_was_lost_are_retried_with_the_same_result(
    env: ExecEnv, chain: None
) -> None:
    ti_id = env.rows(TaskInstance, task_id="first")[0].id
    token = env.task_token(ti_id)
    now = dt.datetime.now(dt.UTC)

    client, _ = faulty(env, token, first_attempt("lose-answer"))
    assert client.start(ti_id, TaskStart(hostname="h", pid=1, start_date=now)).try_number == 1
    client, _ = faulty(env, token, first_attempt("lose-answer"))
    client.send_logs(ti_id, LogBatch(try_number=1, seq=0, lines=["once"]))
    client, _ = faulty(env, token, first_attempt("lose-answer"))
    state = client.finish(ti_id, TaskFailed(end_date=now, error="boom"))
    assert state.state is TaskInstanceState.UP_FOR_RETRY
    client, transport = faulty(env, token, first_attempt("lose-answer"))
    run = client.trigger_dag_run("sdk_dag", TriggerDagRun(run_id="once"))
    assert transport.sent == [
        "POST /execution/dag-runs/sdk_dag",  # created the run; its answer was lost
        "POST /execution/dag-runs/sdk_dag",  # 409: the run exists...
        "GET /execution/dag-runs/sdk_dag/once",  # ...so it is the one the first attempt made
    ]

    ti = env.ti(ti_id)
    assert (ti.state, ti.try_number) == (TaskInstanceState.UP_FOR_RETRY, 1)
    assert len(env.rows(LogChunk, task_instance_id=ti_id)) == 1
    assert run.run_id == "once"
    assert len(env.rows(DagRun, dag_id="sdk_dag", run_id="once")) == 1


def test_a_503_is_retried_and_a_409_is_not(env: ExecEnv, chain: None) -> None:
    ti_id = env.rows(TaskInstance, task_id="first")[0].id
    client, transport = faulty(env, env.task_token(ti_id), first_attempt("503"))
    client.start(ti_id, TaskStart(hostname="h", pid=1, start_date=dt.datetime.now(dt.UTC)))
    assert len(transport.sent) == 2

    env.set_state(ti_id, TaskInstanceState.FAILED)
    client, transport = faulty(env, env.task_token(ti_id), lambda _request, _attempt: None)
    with pytest.raises(ApiError) as refused:
        client.finish(ti_id, TaskSucceeded(end_date=dt.datetime.now(dt.UTC)))
    assert refused.value.status == 409
    assert "is failed" in refused.value.detail
    assert len(transport.sent) == 1


def test_a_refused_call_raises_api_error_with_the_servers_detail(env: ExecEnv, chain: None) -> None:
    ti_id = env.rows(TaskInstance, task_id="first")[0].id
    client = env.sdk(env.worker_token())
    with pytest.raises(ApiError) as refused:
        client.start(ti_id, TaskStart(hostname="h", pid=1, start_date=dt.datetime.now(dt.UTC)))
    assert refused.value.status == 403
    assert "worker token" in refused.value.detail
