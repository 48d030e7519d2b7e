"""Existence oracles across teams, over real HTTP (issue 18, part 10): whatever a team-scoped
user asks about another team's DAG, run, task, XCom, log, version, source, variable, connection
or import error, the answer is the one it gets for a thing that does not exist — 404, the same
problem type — so it learns nothing about what the other team has."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from airlock.core.tokens import TokenKind
from airlock.db import (
    Connection,
    ParseImportError,
    Variable,
    XCom,
    make_engine,
    make_session_factory,
)
from airlock.models.states import TaskInstanceState
from tests.support.processes import ApiServer, Home
from tests.test_execution_api import Seeded

D, R, T = "{dag}", "{run}", "{task}"
REQUESTS: list[tuple[str, str, Any]] = [
    ("GET", f"/dags/{D}", None),
    ("PATCH", f"/dags/{D}", {"is_paused": False}),
    ("GET", f"/dagSources/{D}", None),
    ("GET", f"/dags/{D}/dagVersions", None),
    ("GET", f"/dags/{D}/dagVersions/1", None),
    ("GET", f"/dags/{D}/dagVersions/1/definition", None),
    ("GET", f"/dags/{D}/dagVersions/1/graph", None),
    ("GET", f"/dags/{D}/dagRuns", None),
    ("POST", f"/dags/{D}/dagRuns", {"conf": {}}),
    ("GET", f"/dags/{D}/dagRuns/{R}", None),
    ("PATCH", f"/dags/{D}/dagRuns/{R}", {"note": "x"}),
    ("DELETE", f"/dags/{D}/dagRuns/{R}", None),
    ("POST", f"/dags/{D}/dagRuns/{R}/clear", {"dry_run": True}),
    ("POST", f"/dags/{D}/clearTaskInstances", {"dag_run_id": R, "dry_run": True}),
    ("GET", f"/dags/{D}/dagRuns/{R}/taskInstances", None),
    ("GET", f"/dags/{D}/dagRuns/{R}/taskInstances/{T}", None),
    ("PATCH", f"/dags/{D}/dagRuns/{R}/taskInstances/{T}", {"new_state": "success"}),
    ("GET", f"/dags/{D}/dagRuns/{R}/taskInstances/{T}/logs/1", None),
    ("GET", f"/dags/{D}/dagRuns/{R}/taskInstances/{T}/xcomEntries", None),
    ("GET", f"/dags/{D}/dagRuns/{R}/taskInstances/{T}/xcomEntries/return_value", None),
    ("GET", "/variables/{var}", None),
    ("PATCH", "/variables/{var}", {"value": "x"}),
    ("DELETE", "/variables/{var}", None),
    ("GET", "/connections/{conn}", None),
    ("PATCH", "/connections/{conn}", {"host": "h"}),
    ("DELETE", "/connections/{conn}", None),
    ("GET", "/importErrors/{error}", None),
]


@pytest.fixture(scope="module")
def theirs(home: Home) -> dict[str, str]:
    """Another team's DAG (a run, a task, an XCom), variable, connection and import error."""
    seeded = Seeded(home, tasks=1, state=TaskInstanceState.SUCCESS)
    engine = make_engine(home.db_url)
    try:
        with make_session_factory(engine)() as session:
            session.add(
                XCom(
                    dag_id=seeded.dag_id,
                    run_id="run",
                    task_id="t0",
                    map_index=-1,
                    key="return_value",
                    value="1",
                )
            )
            session.add(Variable(key=f"v_{seeded.dag_id}", value="x", bundle_name=seeded.bundle))
            session.add(
                Connection(
                    conn_id=f"c_{seeded.dag_id}", conn_type="http", bundle_name=seeded.bundle
                )
            )
            error = ParseImportError(bundle_name=seeded.bundle, filename="bad.py", stacktrace="x")
            session.add(error)
            session.commit()
            error_id = error.id
    finally:
        engine.dispose()
    return {
        "dag": seeded.dag_id,
        "run": "run",
        "task": "t0",
        "var": f"v_{seeded.dag_id}",
        "conn": f"c_{seeded.dag_id}",
        "error": str(error_id),
    }


MISSING = {
    "dag": "no_such_dag",
    "run": "no_such_run",
    "task": "no_such_task",
    "var": "no_such_var",
    "conn": "no_such_conn",
    "error": "987654321",
}


def ask(client: httpx.Client, token: str, method: str, path: str, body: Any, names: Any) -> Any:
    path = "/api/v1" + path.format(**names)
    payload = (
        None
        if body is None
        else {k: (v.format(**names) if isinstance(v, str) else v) for k, v in body.items()}
    )
    return client.request(method, path, json=payload, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
def test_another_teams_things_answer_as_missing_ones(
    api: ApiServer, home: Home, theirs: dict[str, str], method: str, path: str, body: Any
) -> None:
    team_a = home.token(TokenKind.USER, "team-a-admin", roles=["admin"], bundles=["team-a"])
    with api.client() as client:
        hidden = ask(client, team_a, method, path, body, theirs)
        missing = ask(client, team_a, method, path, body, MISSING)
    assert hidden.status_code == 404, hidden.text
    assert missing.status_code == 404, missing.text
    assert hidden.json()["type"] == missing.json()["type"]
