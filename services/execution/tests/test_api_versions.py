"""The Execution API's dated versions, in-process on both databases: the SDK speaks head and says
so on every request; a 2026-11-01 client gets 2026-11-01 shapes; a client newer than the server
is refused, and the SDK explains why.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import httpx
import pytest

from airlock.models.execution import Heartbeat, TaskStart, WorkloadRequest
from airlock.models.versions.execution import EXECUTION_VERSIONS
from airlock.models.versions.execution import HEAD as SDK_VERSION
from airlock.sdk.api import ApiError, ExecutionClient

from .conftest import ExecEnv

OLD = "2026-11-01"


class Recording(httpx.BaseTransport):
    """Passes every request to the app and keeps what was sent."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)


def test_the_sdk_speaks_the_head_version_on_every_request(env: ExecEnv) -> None:
    assert EXECUTION_VERSIONS.head == SDK_VERSION
    env.add_dag("versioned")
    env.add_run("versioned")
    env.add_ti("versioned")
    recording = Recording(env.transport())
    worker = ExecutionClient("http://testserver", env.worker_token(), transport=recording)
    (workload,) = worker.next_workloads(WorkloadRequest(worker="w1", wait_s=0)).workloads
    assert workload.dag_rel_path == "versioned.py"
    task = ExecutionClient("http://testserver", workload.token, transport=recording)
    context = task.start(workload.ti.id, TaskStart(hostname="h", pid=1, start_date=_now()))
    assert context.should_retry is False  # no retries configured
    task.heartbeat(workload.ti.id, Heartbeat(hostname="h", pid=1))
    assert len(recording.requests) == 3
    assert {r.headers["Airlock-API-Version"] for r in recording.requests} == {SDK_VERSION}


def test_a_2026_11_01_client_gets_the_shapes_of_its_version(env: ExecEnv) -> None:
    env.add_dag("old_shapes")
    env.add_run("old_shapes")
    env.add_ti("old_shapes", max_tries=2)
    response = call(env, "POST", "/workloads/next", env.worker_token(), {"worker": "w1"}, OLD)
    assert response.status_code == 200, response.text
    assert response.headers["Airlock-API-Version"] == EXECUTION_VERSIONS.head
    (workload,) = response.json()["workloads"]
    assert workload["relative_fileloc"] == "old_shapes.py"
    assert "dag_rel_path" not in workload
    start = {"hostname": "h", "pid": 1, "start_date": _now().isoformat()}
    ti_path = f"/task-instances/{workload['ti']['id']}/run"
    response = call(env, "PATCH", ti_path, workload["token"], start, OLD)
    assert response.status_code == 200, response.text
    assert response.json()["max_tries"] == 2
    assert "should_retry" not in response.json()


def test_head_clients_get_the_new_shapes(env: ExecEnv) -> None:
    env.add_dag("new_shapes")
    env.add_run("new_shapes")
    env.add_ti("new_shapes", max_tries=2)
    response = env.call("POST", "/workloads/next", env.worker_token(), {"worker": "w1"})
    (workload,) = response.json()["workloads"]
    assert workload["dag_rel_path"] == "new_shapes.py"
    assert "relative_fileloc" not in workload
    start = {"hostname": "h", "pid": 1, "start_date": _now().isoformat()}
    response = env.call(
        "PATCH", f"/task-instances/{workload['ti']['id']}/run", workload["token"], start
    )
    assert response.json()["should_retry"] is True  # try 1 of 3


@pytest.mark.parametrize(
    ("header", "says"),
    [
        ("21/11/2026", "must be a date written YYYY-MM-DD, got '21/11/2026'"),
        ("2099-01-01", "newer than this server's Execution API"),
        ("2026-01-01", "older than the oldest Execution API version"),
    ],
)
def test_a_version_the_server_does_not_serve_is_a_400(env: ExecEnv, header: str, says: str) -> None:
    body = {"worker": "w1", "wait_s": 0}
    response = call(env, "POST", "/workloads/next", env.worker_token(), body, header)
    assert response.status_code == 400
    body = response.json()
    assert says in body["detail"]
    assert body["supported_versions"] == list(EXECUTION_VERSIONS.dates)


def test_the_sdk_warns_once_when_the_server_is_older(caplog: pytest.LogCaptureFixture) -> None:
    def older_server(request: httpx.Request) -> httpx.Response:
        detail = f"Airlock-API-Version {request.headers['Airlock-API-Version']} is newer"
        return httpx.Response(
            400,
            json={"status": 400, "detail": detail},
            headers={"Airlock-API-Version": "2026-10-01"},
        )

    client = ExecutionClient("http://old", "t", transport=httpx.MockTransport(older_server))
    with caplog.at_level(logging.WARNING, logger="airlock.sdk.api"):
        for _ in range(2):
            with pytest.raises(ApiError) as caught:
                client.get_variable("x")
            assert caught.value.status == 400
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "server's newest version is 2026-10-01" in warnings[0]
    assert f"this client speaks {SDK_VERSION}" in warnings[0]
    assert "Upgrade the server first" in warnings[0]


def test_the_sdk_does_not_warn_about_a_server_at_its_version(
    env: ExecEnv, caplog: pytest.LogCaptureFixture
) -> None:
    client = env.sdk(env.worker_token())
    with caplog.at_level(logging.WARNING, logger="airlock.sdk.api"):
        client.next_workloads(WorkloadRequest(worker="w1", wait_s=0))
    assert not [r for r in caplog.records if r.name == "airlock.sdk.api"]


def call(
    env: ExecEnv, method: str, path: str, token: str, json: Any, version: str | None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if version is not None:
        headers["Airlock-API-Version"] = version
    return env.client.request(method, f"/execution{path}", json=json, headers=headers)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
