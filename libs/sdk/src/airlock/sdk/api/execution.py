"""Client for the Execution API: what a worker and its task supervisors say to Airlock.

A worker builds one with its worker token to poll for workloads; a supervisor builds one per
task with the workload's task token (or calls :meth:`ExecutionClient.set_token`). A heartbeat
reply that carries a refreshed token is adopted here, so the caller never holds an expiring one.

Every request says which version of the Execution API this client speaks
(``Airlock-API-Version``, ADR 0007) and is retried by the clients' one
:class:`~airlock.sdk.api.retry.RetryPolicy`. A 409 is never retried: it means the task's state
moved elsewhere, and the caller must act on that (stop, or report it), not insist.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from airlock.models.execution import (
    AssetEventList,
    DagRunInfo,
    Heartbeat,
    HeartbeatReply,
    LogBatch,
    StartConfirmation,
    StartConfirmationReply,
    StateValue,
    StateWrite,
    TaskOutcome,
    TaskRunContext,
    TaskStart,
    TaskStateList,
    TaskStateReply,
    TriggerDagRun,
    VariableWrite,
    WorkloadBatch,
    WorkloadRequest,
    XComValue,
)
from airlock.models.secrets import ConnectionInfo, VariableValue
from airlock.models.versions.execution import HEAD as API_VERSION
from airlock.sdk.api._http import HttpSession, api_error, new_http_client
from airlock.sdk.api.retry import RetryPolicy

#: Extra read time a long-poll gets beyond what it asked the server to wait.
LONG_POLL_MARGIN_S = 10.0


class ExecutionClient:
    """``http``: an ``httpx.Client`` to share with other ExecutionClients (a worker makes one per
    task, with that task's token); it carries no token itself and is not closed by :meth:`close`.
    Without it, the client makes its own, over ``transport`` when given. ``retry``: how its
    requests are retried."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self._http = HttpSession(
            http or shared_http_client(base_url, transport=transport, timeout_s=timeout_s),
            token,
            retry=retry,
            api=("Execution", API_VERSION),
            owns_client=http is None,
        )
        self._timeout_s = timeout_s

    # --- workers ---------------------------------------------------------------------------

    def next_workloads(self, request: WorkloadRequest) -> WorkloadBatch:
        """Wait up to ``request.wait_s`` for queued tasks (needs a worker token)."""
        timeout = httpx.Timeout(self._timeout_s, read=request.wait_s + LONG_POLL_MARGIN_S)
        response = self._http.request(
            "POST", "/execution/workloads/next", body=request, timeout=timeout
        )
        return msgspec.json.decode(response.content, type=WorkloadBatch)

    def confirm_starts(self, confirmation: StartConfirmation) -> StartConfirmationReply:
        """Confirm the tasks a poll's hand-out started for this worker (needs a worker token);
        since API version 2026-12-08."""
        response = self._http.request("POST", "/execution/workloads/confirm", body=confirmation)
        return msgspec.json.decode(response.content, type=StartConfirmationReply)

    # --- the task's own instance (task token) ----------------------------------------------

    def start(self, ti_id: str, start: TaskStart) -> TaskRunContext:
        response = self._http.request("PATCH", f"{_ti(ti_id)}/run", body=start)
        return msgspec.json.decode(response.content, type=TaskRunContext)

    def heartbeat(self, ti_id: str, beat: Heartbeat) -> HeartbeatReply:
        response = self._http.request("PUT", f"{_ti(ti_id)}/heartbeat", body=beat)
        reply = msgspec.json.decode(response.content, type=HeartbeatReply)
        if reply.token:
            self.set_token(reply.token)
        return reply

    def finish(self, ti_id: str, outcome: TaskOutcome) -> TaskStateReply:
        response = self._http.request("PATCH", f"{_ti(ti_id)}/state", body=outcome)
        return msgspec.json.decode(response.content, type=TaskStateReply)

    def send_logs(self, ti_id: str, batch: LogBatch) -> None:
        self._http.request("POST", f"{_ti(ti_id)}/logs", body=batch)

    def push_xcom(self, ti_id: str, key: str, value: Any) -> None:
        self._http.request(
            "PUT", f"{_ti(ti_id)}/xcoms/{_seg(key)}", body=XComValue(key=key, value=value)
        )

    # --- the task's state stores (its own, and its declared assets') ------------------------

    def get_state(self, ti_id: str, key: str, asset_uri: str | None = None) -> StateValue | None:
        """The key of the task instance's store, or of ``asset_uri``'s; None when absent."""
        path, params = _state_path(ti_id, key, asset_uri)
        response = self._http.request("GET", path, params=params, accept={404})
        if response.status_code == 404:
            return None
        return msgspec.json.decode(response.content, type=StateValue)

    def set_state(
        self,
        ti_id: str,
        key: str,
        value: Any,
        *,
        retention_s: float | None,
        asset_uri: str | None = None,
    ) -> None:
        path, params = _state_path(ti_id, key, asset_uri)
        body = StateWrite(value=value, retention_s=retention_s)
        self._http.request("PUT", path, params=params, body=body)

    def delete_state(self, ti_id: str, key: str | None, asset_uri: str | None = None) -> None:
        """Delete one key, or (``key=None``) every key of the store."""
        path, params = _state_path(ti_id, key, asset_uri)
        self._http.request("DELETE", path, params=params)

    def asset_events(self, ti_id: str, uri: str, limit: int = 100) -> AssetEventList:
        """The latest ``limit`` events of an asset the task declares, oldest first."""
        response = self._http.request(
            "GET", f"{_ti(ti_id)}/asset-events", params={"uri": uri, "limit": limit}
        )
        return msgspec.json.decode(response.content, type=AssetEventList)

    # --- reads and writes within the task's bundle -----------------------------------------

    def pull_xcom(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        key: str = "return_value",
        map_index: int | None = None,
    ) -> Any:
        """The value, or None when there is none; for a mapped task without ``map_index``, the
        list of all its instances' values."""
        path = f"/execution/xcoms/{_seg(dag_id)}/{_seg(run_id)}/{_seg(task_id)}/{_seg(key)}"
        params = {} if map_index is None else {"map_index": map_index}
        response = self._http.request("GET", path, params=params, accept={404})
        if response.status_code == 404:
            return None
        return msgspec.json.decode(response.content, type=XComValue).value

    def get_variable(self, key: str) -> str | None:
        response = self._http.request("GET", f"/execution/variables/{_seg(key)}", accept={404})
        if response.status_code == 404:
            return None
        return msgspec.json.decode(response.content, type=VariableValue).value

    def set_variable(self, key: str, value: str, description: str | None = None) -> None:
        self._http.request(
            "PUT",
            f"/execution/variables/{_seg(key)}",
            body=VariableWrite(value=value, description=description),
        )

    def delete_variable(self, key: str) -> None:
        """Delete the variable; one that does not exist (for this bundle) is already gone."""
        self._http.request("DELETE", f"/execution/variables/{_seg(key)}", accept={404})

    def get_connection(self, conn_id: str) -> ConnectionInfo | None:
        response = self._http.request(
            "GET", f"/execution/connections/{_seg(conn_id)}", accept={404}
        )
        if response.status_code == 404:
            return None
        return msgspec.json.decode(response.content, type=ConnectionInfo)

    def get_dag_run(self, dag_id: str, run_id: str) -> DagRunInfo | None:
        response = self._http.request(
            "GET", f"/execution/dag-runs/{_seg(dag_id)}/{_seg(run_id)}", accept={404}
        )
        if response.status_code == 404:
            return None
        return msgspec.json.decode(response.content, type=DagRunInfo)

    def previous_dag_run(
        self, dag_id: str, before_run_id: str, state: str | None = None
    ) -> DagRunInfo | None:
        params = {"before": before_run_id} | ({"state": state} if state else {})
        response = self._http.request(
            "GET", f"/execution/dag-runs/{_seg(dag_id)}/previous", params=params, accept={404}
        )
        if response.status_code == 404:
            return None
        return msgspec.json.decode(response.content, type=DagRunInfo)

    def find_dag_run(self, dag_id: str, logical_date: dt.datetime) -> DagRunInfo | None:
        """The run of ``dag_id`` for ``logical_date``; None when there is none (yet)."""
        response = self._http.request(
            "GET",
            f"/execution/dag-runs/{_seg(dag_id)}/by-logical-date",
            params={"logical_date": logical_date.isoformat()},
            accept={404},
        )
        if response.status_code == 404:
            return None
        return msgspec.json.decode(response.content, type=DagRunInfo)

    def task_states(self, dag_id: str, run_id: str, task_id: str) -> list[str | None]:
        """The states of ``task_id``'s instances in the run, by map index."""
        response = self._http.request(
            "GET",
            f"/execution/dag-runs/{_seg(dag_id)}/{_seg(run_id)}/task-states",
            params={"task_id": task_id},
        )
        states = msgspec.json.decode(response.content, type=TaskStateList).states
        return [None if s is None else str(s) for s in states]

    def trigger_dag_run(self, dag_id: str, request: TriggerDagRun) -> DagRunInfo:
        """Create a run of another DAG of this bundle.

        The run id is chosen here when not given, so a retry after a lost answer finds the run
        the first attempt made (and returns it) instead of creating a second one.
        """
        if request.run_id is None:
            when = request.logical_date or dt.datetime.now(dt.UTC)
            request = msgspec.structs.replace(request, run_id=f"manual__{when.isoformat()}")
        path = f"/execution/dag-runs/{_seg(dag_id)}"
        response, attempts = self._http.call("POST", path, body=request, accept={409})
        if response.status_code == 409:
            assert request.run_id is not None
            earlier = self.get_dag_run(dag_id, request.run_id) if attempts > 1 else None
            if earlier is None:
                raise api_error("POST", response)
            return earlier
        return msgspec.json.decode(response.content, type=DagRunInfo)

    # --- plumbing --------------------------------------------------------------------------

    def set_token(self, token: str) -> None:
        self._http.set_token(token)

    @property
    def token(self) -> str:
        return self._http.token

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ExecutionClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def shared_http_client(
    base_url: str, *, transport: httpx.BaseTransport | None = None, timeout_s: float = 30.0
) -> httpx.Client:
    """An ``httpx.Client`` for the Execution API that any number of ExecutionClients may share
    (each sends its own token)."""
    return new_http_client(
        base_url, api_version=API_VERSION, transport=transport, timeout_s=timeout_s
    )


def _ti(ti_id: str) -> str:
    return f"/execution/task-instances/{_seg(ti_id)}"


def _seg(value: str) -> str:
    return quote(value, safe="")


def _state_path(ti_id: str, key: str | None, asset_uri: str | None) -> tuple[str, dict[str, str]]:
    store = "state" if asset_uri is None else "asset-state"
    path = f"{_ti(ti_id)}/{store}" + ("" if key is None else f"/{_seg(key)}")
    return path, {} if asset_uri is None else {"uri": asset_uri}
