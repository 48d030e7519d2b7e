"""Client for the Web API's everyday verbs: log in, trigger a run, follow it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from airlock.models.web import DagRunCreate, DagRunView, LogPage, TaskInstanceList
from airlock.models.web_dags import DagDetail, DagList, DagView
from airlock.sdk.api._http import HttpSession


def login(
    base_url: str, username: str, password: str, *, transport: httpx.BaseTransport | None = None
) -> str:
    """A user token for ``username``; raises ApiError (401) for a wrong password."""
    session = HttpSession(base_url, "", transport=transport, retries=2)
    try:
        response = session.request(
            "POST", "/api/v1/auth/token", body={"username": username, "password": password}
        )
    finally:
        session.close()
    return str(response.json()["access_token"])


class WebClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        **options: Any,
    ) -> None:
        self._http = HttpSession(base_url, token, transport=transport, **options)

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

    def set_paused(self, dag_id: str, is_paused: bool) -> DagView:
        response = self._http.request(
            "PATCH", f"/api/v1/dags/{_seg(dag_id)}", body={"is_paused": is_paused}
        )
        return msgspec.json.decode(response.content, type=DagView)

    def close(self) -> None:
        self._http.close()


def _seg(value: str) -> str:
    return quote(value, safe="")
