"""Variables, connections, pools and component health over the real Web API: CRUD by role, team
scope, secrets encrypted at rest and never answered in clear (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from airlock.db import ComponentHeartbeat, Connection, Variable, Worker

SECRET = "hunter2-do-not-leak"


def test_variables_crud_mask_and_encrypt(web: Any, expect_problem: Any) -> None:
    admin, viewer = web.token("admin"), web.token("viewer")
    created = web.call("POST", "/variables", admin, json={"key": "region", "value": "eu-west-1"})
    assert created.status_code == 201, created.text
    web.call("POST", "/variables", admin, json={"key": "db_password", "value": SECRET})
    assert web.call("GET", "/variables/region", viewer).json()["value"] == "eu-west-1"
    listed = web.call("GET", "/variables", viewer, params={"order_by": "-key"})
    assert [v["key"] for v in listed.json()["variables"]] == ["region", "db_password"]
    assert SECRET not in listed.text
    assert web.call("GET", "/variables/db_password", viewer).json()["value"] == "***"
    with web.session() as session:
        stored = session.get_one(Variable, "db_password")
        assert stored.is_encrypted
        assert SECRET not in stored.value

    expect_problem(
        web.call("POST", "/variables", admin, json={"key": "region", "value": "x"}), 409, "exists"
    )
    replaced = web.call(
        "POST",
        "/variables",
        admin,
        params={"overwrite": "true"},
        json={"key": "region", "value": "us-east-1"},
    )
    assert replaced.json()["value"] == "us-east-1"
    patched = web.call("PATCH", "/variables/region", admin, json={"description": "where"})
    assert patched.json()["description"] == "where"
    pattern = web.call("GET", "/variables", viewer, params={"variable_key_pattern": "%_"})
    assert pattern.json()["total_entries"] == 0  # % and _ are literal, not wildcards
    assert web.call("DELETE", "/variables/region", admin).status_code == 204
    expect_problem(web.call("GET", "/variables/region", viewer), 404, "not found")


def test_connections_never_answer_secrets(web: Any, expect_problem: Any) -> None:
    admin, viewer = web.token("admin"), web.token("viewer")
    body = {
        "connection_id": "warehouse",
        "conn_type": "postgres",
        "host": "db.internal",
        "login": "etl",
        "password": SECRET,
        "port": 5432,
        "extra": f'{{"sslmode": "require", "token": "{SECRET}"}}',
    }
    created = web.call("POST", "/connections", admin, json=body)
    assert created.status_code == 201, created.text
    for response in (
        created,
        web.call("GET", "/connections/warehouse", viewer),
        web.call("GET", "/connections", viewer),
        web.call("PATCH", "/connections/warehouse", admin, json={"host": "db2.internal"}),
    ):
        assert response.status_code in (200, 201), response.text
        assert SECRET not in response.text
    shown = web.call("GET", "/connections/warehouse", viewer).json()
    assert (shown["password"], shown["extra"], shown["host"]) == ("***", "***", "db2.internal")
    with web.session() as session:
        row = session.get_one(Connection, "warehouse")
        assert SECRET.encode() not in (row.password_encrypted or b"")
        assert SECRET.encode() not in (row.extra_encrypted or b"")
    expect_problem(
        web.call("POST", "/connections", admin, json={**body, "extra": "not json"}),
        422,
        "json object",
    )
    expect_problem(web.call("POST", "/connections", admin, json=body), 409, "exists")
    assert web.call("DELETE", "/connections/warehouse", admin).status_code == 204


def test_pools_crud_and_usage(web: Any, expect_problem: Any) -> None:
    admin, viewer = web.token("admin"), web.token("viewer")
    created = web.call("POST", "/pools", admin, json={"name": "db", "slots": 4})
    assert created.status_code == 201, created.text
    assert created.json()["open_slots"] == 4
    web.add_dag("p", tasks=[web.task("t", pool="db")])
    trigger = web.call("POST", "/dags/p/dagRuns", web.token("op"), json={"run_id": "r"})
    assert trigger.status_code == 201, trigger.text
    pool = web.call("GET", "/pools/db", viewer).json()
    assert (pool["queued_slots"], pool["open_slots"]) == (1, 3)
    names = [p["name"] for p in web.call("GET", "/pools", viewer).json()["pools"]]
    assert names == ["db", "default_pool"]
    assert web.call("PATCH", "/pools/db", admin, json={"slots": 8}).json()["slots"] == 8
    expect_problem(web.call("PATCH", "/pools/db", admin, json={"slots": -5}), 422, "slots")
    expect_problem(web.call("DELETE", "/pools/default_pool", admin), 409, "cannot be deleted")
    assert web.call("DELETE", "/pools/db", admin).status_code == 204


MUTATIONS = [
    ("POST", "/variables", {"key": "k", "value": "v"}),
    ("PATCH", "/variables/k0", {"value": "v"}),
    ("DELETE", "/variables/k0", None),
    ("POST", "/connections", {"connection_id": "c", "conn_type": "http"}),
    ("PATCH", "/connections/c0", {"host": "h"}),
    ("DELETE", "/connections/c0", None),
    ("POST", "/pools", {"name": "p", "slots": 1}),
    ("PATCH", "/pools/default_pool", {"slots": 1}),
    ("DELETE", "/pools/default_pool", None),
]


@pytest.mark.parametrize(("method", "path", "body"), MUTATIONS)
@pytest.mark.parametrize("role", ["viewer", "op"])
def test_only_admins_write(
    web: Any, expect_problem: Any, role: str, method: str, path: str, body: Any
) -> None:
    admin = web.token("admin")
    web.call("POST", "/variables", admin, json={"key": "k0", "value": "v"})
    web.call("POST", "/connections", admin, json={"connection_id": "c0", "conn_type": "http"})
    expect_problem(web.call(method, path, web.token(role), json=body), 403, "admin role")


def test_team_scope_on_variables_and_connections(web: Any, expect_problem: Any) -> None:
    admin = web.token("admin")
    for key, bundle in (("a_var", "team-a"), ("b_var", "team-b"), ("shared", None)):
        web.call(
            "POST", "/variables", admin, json={"key": key, "value": "v", "bundle_name": bundle}
        )
    web.call(
        "POST",
        "/connections",
        admin,
        json={"connection_id": "b_conn", "conn_type": "http", "bundle_name": "team-b"},
    )
    team_a = web.token("admin", bundles=["team-a"])
    keys = [v["key"] for v in web.call("GET", "/variables", team_a).json()["variables"]]
    assert keys == ["a_var", "shared"]
    expect_problem(web.call("GET", "/variables/b_var", team_a), 404, "not found")
    expect_problem(web.call("DELETE", "/variables/b_var", team_a), 404, "not found")
    expect_problem(web.call("GET", "/connections/b_conn", team_a), 404, "not found")
    assert web.call("GET", "/connections", team_a).json()["total_entries"] == 0
    expect_problem(
        web.call("POST", "/variables", team_a, json={"key": "g", "value": "v"}), 403, "bundles"
    )
    own = web.call(
        "POST", "/variables", team_a, json={"key": "a2", "value": "v", "bundle_name": "team-a"}
    )
    assert own.status_code == 201


def test_component_health_and_version(web: Any, expect_problem: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    old = now - dt.timedelta(minutes=10)
    with web.session() as session:
        session.add(ComponentHeartbeat(kind="scheduler", name="s1", last_heartbeat_at=now))
        session.add(ComponentHeartbeat(kind="triggerer", name="t1", last_heartbeat_at=old))
        session.add(Worker(name="w1", last_heartbeat_at=now))
        session.commit()
    health = web.call("GET", "/monitor/health", web.token("viewer")).json()
    assert health["metadatabase"]["status"] == "healthy"
    kinds = {kind: value["status"] for kind, value in health["kinds"].items()}
    assert kinds == {
        "scheduler": "healthy",
        "dag-processor": "unhealthy",
        "triggerer": "unhealthy",
        "callback-processor": "unhealthy",
        "worker": "healthy",
    }
    assert [(c["kind"], c["name"]) for c in health["components"]] == [
        ("scheduler", "s1"),
        ("triggerer", "t1"),
        ("worker", "w1"),
    ]
    expect_problem(
        web.call("GET", "/monitor/health", web.token("viewer"), params={"stale_after_s": -1}),
        422,
        "stale_after_s",
    )
    assert web.call("GET", "/version", web.token("viewer")).json()["version"]
    with web.session() as session:
        assert session.scalars(select(Worker)).one().name == "w1"


@pytest.mark.parametrize(
    ("method", "path", "body"), [m for m in MUTATIONS if m[1].startswith("/pools")]
)
def test_a_team_scoped_admin_changes_no_pool(
    web: Any, expect_problem: Any, method: str, path: str, body: Any
) -> None:
    team_a = web.token("admin", bundles=["team-a"])
    expect_problem(web.call(method, path, team_a, json=body), 403, "not limited to bundles")
    assert web.call("GET", "/pools/default_pool", team_a).json()["slots"] > 0


def test_only_a_global_variable_takes_the_task_write_grant(web: Any, expect_problem: Any) -> None:
    admin = web.token("admin")
    granted = web.call(
        "POST", "/variables", admin, json={"key": "g", "value": "v", "task_writable": True}
    )
    assert granted.json()["task_writable"] is True
    revoked = web.call("PATCH", "/variables/g", admin, json={"task_writable": False})
    assert revoked.json()["task_writable"] is False
    scoped = {"key": "b", "value": "v", "bundle_name": "team-a", "task_writable": True}
    expect_problem(web.call("POST", "/variables", admin, json=scoped), 422, "global variables")
    team_a = web.token("admin", bundles=["team-a"])
    expect_problem(
        web.call("PATCH", "/variables/g", team_a, json={"task_writable": True}), 403, "bundles"
    )
