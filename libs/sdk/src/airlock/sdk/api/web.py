"""Client for the Web API's everyday verbs: log in, trigger a run, follow it, list and pause DAGs,
and any other Web API call through :meth:`WebClient.request`. Retried by
:class:`~airlock.sdk.api.retry.RetryPolicy`, like every Airlock client."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from airlock.models.web import DagRunCreate, DagRunView, LogPage, TaskInstanceList
from airlock.models.web_dags import DagDetail, DagList, DagView
from airlock.sdk.api._http import HttpSession, new_http_client
from airlock.sdk.api.retry import RetryPolicy

#: What a person at a terminal waits for: a few quick tries, not a long outage.
INTERACTIVE = RetryPolicy(attempts=4, deadline_s=10.0)


def login(
    base_url: str,
    username: str,
    password: str,
    *,
    transport: httpx.BaseTransport | None = None,
    retry: RetryPolicy = INTERACTIVE,
) -> str:
    """A user token for ``username``; raises ApiError (401) for a wrong password."""
    client = WebClient(base_url, "", transport=transport, retry=retry)
    try:
        response = client.request(
            "POST", "/api/v1/auth/token", body={"username": username, "password": password}
        )
    finally:
        client.close()
    return str(response.json()["access_token"])


class WebClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy = INTERACTIVE,
    ) -> None:
        self._http = HttpSession(
            new_http_client(base_url, transport=transport, timeout_s=timeout_s), token, retry=retry
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        accept: Collection[int] = (),
    ) -> httpx.Response:
        """Any Web API call (``path`` from the root, e.g. ``/api/v1/assets``); raises
        :class:`~airlock.sdk.api.ApiError` for a refusal not in ``accept``."""
        return self._http.request(method, path, body=body, params=params, accept=accept)

    def trigger(self, dag_id: str, request: DagRunCreate) -> DagRunView:
        response = self._http.request("POST", f"/api/v1/dags/{_seg(dag_id)}/dagRuns", body=request)
        return msgspec.json.decode(response.content, type=DagRunView)

    def get_run(self, dag_id: str, run_id: str) -> DagRunView:
        response = self._http.request("GET", f"/api/v1/dags/{_seg(dag_id)}/dagRuns/{_seg(run_id)}")
        return msgspec.json.decode(response.content, type=DagRunView)

    def task_instances(self, dag_id: str, run_id: str) -> TaskInstanceList:
        response = self._http.request(
            "GET", f"/api/v1/dags/{_seg(dag_id)}/dagRuns/{_seg(run_id)}/taskInstances"
        )
        return msgspec.json.decode(response.content, type=TaskInstanceList)

    def logs(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        try_number: int,
        *,
        map_index: int = -1,
        cursor: int = 0,
    ) -> LogPage:
        response = self._http.request(
            "GET",
            f"/api/v1/dags/{_seg(dag_id)}/dagRuns/{_seg(run_id)}/taskInstances/{_seg(task_id)}/logs/{try_number}",
            params={"map_index": map_index, "cursor": cursor},
        )
        return msgspec.json.decode(response.content, type=LogPage)

    def list_dags(self, **filters: Any) -> DagList:
        """One page of DAGs; ``filters`` are the list's query parameters (``search``,
        ``tags``, ``owners``, ``bundle_name``, ``paused``, ``limit``, ``order_by`` …)."""
        params = {k: v for k, v in filters.items() if v is not None}
        response = self._http.request("GET", "/api/v1/dags", params=params)
        return msgspec.json.decode(response.content, type=DagList)

    def get_dag(self, dag_id: str) -> DagDetail:
        response = self._http.request("GET", f"/api/v1/dags/{_seg(dag_id)}")
        return msgspec.json.decode(response.content, type=DagDetail)

    def set_paused(self, dag_id: str, is_paused: bool, asset_backlog: str | None = None) -> DagView:
        body: dict[str, Any] = {"is_paused": is_paused}
        if asset_backlog is not None:
            body["asset_backlog"] = asset_backlog
        response = self._http.request("PATCH", f"/api/v1/dags/{_seg(dag_id)}", body=body)
        return msgspec.json.decode(response.content, type=DagView)

    def close(self) -> None:
        self._http.close()


def _seg(value: str) -> str:
    return quote(value, safe="")
