"""The Execution API over real HTTP against `airlock api`: a workload's whole life through the
SDK client, the refusals owed to a task or worker token used where it does not belong, a burst of
duplicate state reports, and a long-poll whose worker hung up.

Runs and task instances are inserted directly, as the scheduler would leave them.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from airlock.core.tokens import TokenKind
from airlock.db import (
    DagRun,
    TaskInstance,
    TaskInstanceHistory,
    make_engine,
    make_session_factory,
)
from airlock.models.dag import SerializedDag
from airlock.models.execution import (
    Heartbeat,
    LogBatch,
    TaskStart,
    TaskSucceeded,
    WorkloadRequest,
)
from airlock.models.states import DagRunState, DagRunType, TaskInstanceState
from airlock.sdk.api import ApiError, ExecutionClient
from tests.support.dags import install_dag, task
from tests.support.problems import problem
from tests.support.processes import ApiServer, Home


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Seeded:
    """A DAG of one bundle with one running run and its task instances, in the home's DB."""

    def __init__(self, home: Home, tasks: int = 2, state: TaskInstanceState | None = None) -> None:
        self.home = home
        self.dag_id = f"exec_{uuid.uuid4().hex[:8]}"
        self.bundle = f"bundle_{self.dag_id}"
        task_ids = [f"t{i}" for i in range(tasks)]
        dag = SerializedDag(
            dag_id=self.dag_id,
            tasks=[task(t, operator_class="x.Empty", operator_name="Empty") for t in task_ids],
        )
        engine = make_engine(home.db_url)
        try:
            with make_session_factory(engine)() as session:
                # Paused: the scheduler of no test should touch it.
                version_id = install_dag(session, dag, bundle=self.bundle, paused=True)
                session.add(
                    DagRun(
                        dag_id=self.dag_id,
                        run_id="run",
                        dag_version_id=version_id,
                        run_after=dt.datetime.now(dt.UTC),
                        run_type=DagRunType.MANUAL,
                        state=DagRunState.RUNNING,
                    )
                )
                tis = [
                    TaskInstance(
                        dag_id=self.dag_id,
                        run_id="run",
                        task_id=t,
                        state=state,
                        queue=self.dag_id,  # a queue of its own: no other test's worker takes it
                        dag_version_id=version_id,
                        queued_at=dt.datetime.now(dt.UTC),
                    )
                    for t in task_ids
                ]
                session.add_all(tis)
                session.commit()
                self.ti_ids = [ti.id for ti in tis]
        finally:
            engine.dispose()

    def task_token(self, ti_id: str, ttl_s: int = 600) -> str:
        return self.home.token(
            TokenKind.TASK, ti_id, ttl_s, dag_id=self.dag_id, run_id="run", bundle=self.bundle
        )

    def ti(self, ti_id: str) -> TaskInstance:
        engine = make_engine(self.home.db_url)
        try:
            with make_session_factory(engine)() as session:
                return session.get_one(TaskInstance, ti_id)
        finally:
            engine.dispose()

    def tries(self, ti_id: str) -> int:
        engine = make_engine(self.home.db_url)
        try:
            with make_session_factory(engine)() as session:
                return session.query(TaskInstanceHistory).filter_by(task_instance_id=ti_id).count()
        finally:
            engine.dispose()


@pytest.fixture
def running(home: Home) -> Seeded:
    return Seeded(home, state=TaskInstanceState.RUNNING)


@pytest.fixture
def client(api: ApiServer) -> Iterator[httpx.Client]:
    with api.client() as http:
        yield http


def start_body() -> dict[str, Any]:
    return {"hostname": "h", "pid": 1, "start_date": dt.datetime.now(dt.UTC).isoformat()}


def success_body() -> dict[str, Any]:
    return {"state": "success", "end_date": dt.datetime.now(dt.UTC).isoformat()}


def test_a_workload_runs_to_success_through_the_sdk(api: ApiServer, home: Home) -> None:
    seeded = Seeded(home, tasks=1, state=TaskInstanceState.QUEUED)
    worker = ExecutionClient(api.url, home.token(TokenKind.WORKER, "http-worker"))
    batch = worker.next_workloads(WorkloadRequest(worker="http-worker", queues=[seeded.dag_id]))
    (workload,) = batch.workloads
    assert workload.bundle == seeded.bundle
    runner = ExecutionClient(api.url, workload.token)
    ti_id = workload.ti.id
    now = dt.datetime.now(dt.UTC)
    assert runner.start(ti_id, TaskStart(hostname="h", pid=5, start_date=now)).try_number == 1
    assert runner.heartbeat(ti_id, Heartbeat(hostname="h", pid=5)).keep_running
    runner.send_logs(ti_id, LogBatch(try_number=1, seq=0, lines=["over http"]))
    runner.push_xcom(ti_id, "return_value", [1, 2])
    assert runner.pull_xcom(seeded.dag_id, "run", "t0") == [1, 2]
    assert runner.finish(ti_id, TaskSucceeded(end_date=now)).state is TaskInstanceState.SUCCESS
    with pytest.raises(ApiError) as refused:
        worker.finish(ti_id, TaskSucceeded(end_date=now))
    assert refused.value.status == 403


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "run", start_body()),
        ("PUT", "heartbeat", {"hostname": "h", "pid": 1}),
        ("PATCH", "state", success_body()),
        ("POST", "logs", {"try_number": 1, "seq": 0, "lines": ["x"]}),
        ("PUT", "xcoms/k", {"key": "k", "value": 1}),
    ],
)
def test_a_task_token_used_on_another_task_instance_is_403(
    client: httpx.Client, running: Seeded, method: str, path: str, body: dict[str, Any]
) -> None:
    mine, other = running.ti_ids
    response = client.request(
        method,
        f"/execution/task-instances/{other}/{path}",
        json=body,
        headers=bearer(running.task_token(mine)),
    )
    problem(response, 403, f"bound to task instance {mine}, not {other}")
    assert running.ti(other).state is TaskInstanceState.RUNNING


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/me", "/api/v1/dags/x/dagRuns/run", "/internal/bundles/b/files"]
)
def test_a_task_token_on_the_web_or_internal_api_is_403(
    client: httpx.Client, running: Seeded, path: str
) -> None:
    token = running.task_token(running.ti_ids[0])
    problem(client.get(path, headers=bearer(token)), 403, "task token for the execution API")


def test_an_expired_task_token_is_401(client: httpx.Client, running: Seeded) -> None:
    ti_id = running.ti_ids[0]
    token = running.task_token(ti_id, ttl_s=1)
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert payload["exp"] - payload["iat"] == 1
    time.sleep(3)  # past the server's one-second leeway
    response = client.patch(
        f"/execution/task-instances/{ti_id}/state", json=success_body(), headers=bearer(token)
    )
    problem(response, 401, "expired")
    assert running.ti(ti_id).state is TaskInstanceState.RUNNING


def test_a_worker_token_setting_a_state_is_403(
    client: httpx.Client, running: Seeded, home: Home
) -> None:
    ti_id = running.ti_ids[0]
    response = client.patch(
        f"/execution/task-instances/{ti_id}/state",
        json=success_body(),
        headers=bearer(home.token(TokenKind.WORKER, "w")),
    )
    problem(response, 403, "worker token")
    assert running.ti(ti_id).state is TaskInstanceState.RUNNING


def test_a_task_token_may_not_get_workloads(client: httpx.Client, running: Seeded) -> None:
    response = client.post(
        "/execution/workloads/next",
        json={"worker": "sneaky", "queues": [running.dag_id], "wait_s": 0},
        headers=bearer(running.task_token(running.ti_ids[0])),
    )
    problem(response, 403, "task token may not call this endpoint")


def test_a_burst_of_duplicate_state_reports_moves_the_state_once(
    api: ApiServer, running: Seeded
) -> None:
    ti_id = running.ti_ids[0]
    token = running.task_token(ti_id)
    same = success_body()
    bodies = [same] * 12 + [{"state": "failed", "end_date": same["end_date"]}] * 4
    barrier = threading.Barrier(len(bodies))

    def report(body: dict[str, Any]) -> tuple[int, Any]:
        with httpx.Client(base_url=api.url, timeout=30) as http:
            barrier.wait()
            response = http.patch(
                f"/execution/task-instances/{ti_id}/state", json=body, headers=bearer(token)
            )
        return response.status_code, response.json().get("state")

    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(report, bodies))
    assert {status for status, _ in answers} <= {200, 409}, answers
    applied = {state for status, state in answers if status == 200}
    assert len(applied) == 1, answers
    assert running.ti(ti_id).state == applied.pop()
    assert running.tries(ti_id) == 1, "one try ended, once"


def test_a_poll_whose_worker_hung_up_claims_nothing(api: ApiServer, home: Home) -> None:
    seeded = Seeded(home, tasks=1, state=None)
    token = home.token(TokenKind.WORKER, "impatient")
    body = {"worker": "impatient", "queues": [seeded.dag_id], "wait_s": 20}
    with (
        httpx.Client(base_url=api.url, timeout=0.5) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        impatient.post("/execution/workloads/next", json=body, headers=bearer(token))
    time.sleep(0.3)  # the server noticed the hang-up
    engine = make_engine(home.db_url)
    try:
        with make_session_factory(engine)() as session:
            ti = session.get_one(TaskInstance, seeded.ti_ids[0])
            ti.state = TaskInstanceState.QUEUED
            session.commit()
    finally:
        engine.dispose()
    time.sleep(0.5)  # ten of the server's DB re-checks: an abandoned poll would claim it now
    assert seeded.ti(seeded.ti_ids[0]).claimed_by is None
    worker = ExecutionClient(api.url, home.token(TokenKind.WORKER, "patient"))
    batch = worker.next_workloads(WorkloadRequest(worker="patient", queues=[seeded.dag_id]))
    assert [w.ti.id for w in batch.workloads] == seeded.ti_ids
