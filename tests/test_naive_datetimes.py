"""A datetime without a time zone gets the same 422 from every endpoint that takes one.

JSON has no datetime type, and a timestamp without an offset could be anyone's local time: the
APIs refuse to guess. In a body the wire type (``airlock.models.types.AwareDatetime``) refuses it
while decoding; in a query string ``airlock.core.http.require_aware`` does. Either way the answer
is a ``naive-datetime`` problem whose detail and ``errors`` name the field. The Internal API
takes no datetime from its callers.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from airlock.core.tokens import TokenKind
from airlock.models.versions import EXECUTION_VERSIONS
from tests.support.processes import ApiServer, Home

NAIVE = "2026-05-01T12:00:00"
TI = "0190a5c0-0000-7000-8000-00000000naive"

#: (method, path, field, where, body): ``where`` is ``body`` or ``query``.
WEB = [
    ("POST", "/api/v1/dags/any_dag/dagRuns", "logical_date", "body", {"logical_date": NAIVE}),
    ("POST", "/api/v1/apiTokens", "expires_at", "body", {"name": "n", "expires_at": NAIVE}),
    *[
        ("GET", "/api/v1/dags/~/dagRuns", f"{name}_{bound}", "query", None)
        for name in ("logical_date", "start_date", "end_date", "run_after")
        for bound in ("gte", "lte")
    ],
    *[("GET", "/api/v1/assets/events", f"timestamp_{b}", "query", None) for b in ("gte", "lte")],
]
EXECUTION = [
    (
        "PATCH",
        f"/execution/task-instances/{TI}/run",
        "start_date",
        "body",
        {"hostname": "h", "pid": 1, "start_date": NAIVE},
    ),
    *[
        ("PATCH", f"/execution/task-instances/{TI}/state", "end_date", "body", outcome)
        for outcome in (
            {"state": "success", "end_date": NAIVE},
            {"state": "failed", "end_date": NAIVE},
            {"state": "skipped", "end_date": NAIVE},
            {
                "state": "up_for_reschedule",
                "reschedule_date": "2026-05-01T12:00:00Z",
                "end_date": NAIVE,
            },
        )
    ],
    (
        "PATCH",
        f"/execution/task-instances/{TI}/state",
        "reschedule_date",
        "body",
        {"state": "up_for_reschedule", "reschedule_date": NAIVE, "end_date": NAIVE + "Z"},
    ),
    ("POST", "/execution/dag-runs/any_dag", "logical_date", "body", {"logical_date": NAIVE}),
]


def expect_naive(response: httpx.Response, field: str, where: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "https://airlock.dev/problems/naive-datetime", problem
    assert problem["detail"].startswith(f"{field} has no time zone;"), problem
    assert [(e["key"], e["source"]) for e in problem["errors"]] == [(field, where)], problem


def send(
    api: ApiServer, token: str, call: tuple[str, str, str, str, Any], headers: dict[str, str]
) -> httpx.Response:
    method, path, field, where, body = call
    with api.client() as client:
        return client.request(
            method,
            path,
            json=body,
            params={field: NAIVE} if where == "query" else None,
            headers={"Authorization": f"Bearer {token}", **headers},
        )


@pytest.mark.parametrize("call", WEB, ids=lambda c: f"{c[0]} {c[1]} {c[2]}")
def test_web_api(api: ApiServer, home: Home, call: tuple[str, str, str, str, Any]) -> None:
    token = home.token(TokenKind.USER, "naive-admin", roles=["admin"])
    expect_naive(send(api, token, call, {}), call[2], call[3])


@pytest.mark.parametrize("version", list(EXECUTION_VERSIONS.dates))
@pytest.mark.parametrize("call", EXECUTION, ids=lambda c: f"{c[0]} {c[1]} {c[2]}")
def test_execution_api(
    api: ApiServer, home: Home, call: tuple[str, str, str, str, Any], version: str
) -> None:
    """Every supported version: an old client's body is migrated to the head shape first."""
    token = home.token(TokenKind.TASK, TI, dag_id="any_dag", run_id="r", bundle="b")
    response = send(api, token, call, {"Airlock-API-Version": version})
    expect_naive(response, call[2], call[3])
