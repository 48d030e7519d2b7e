"""`airlock runs list`, `tasks logs`, `variables set/get` and `connections add` as a person types
them, against a real `airlock api --apps web` process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from airlock.core.tokens import TokenKind
from airlock.db.database import Database
from tests.support.dags import install_dag, make_dag, task
from tests.support.processes import ApiServer, Home, make_home, start_api, stop

pytestmark = pytest.mark.slow  # its fixture starts airlock processes of its own

SECRET = "cli-secret-never-printed"


@pytest.fixture(scope="module")
def logged_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Home, ApiServer]]:
    path: Path = tmp_path_factory.mktemp("cli-web")
    home = make_home(path, f"sqlite:///{path / 'airlock.db'}")
    server = start_api(home, "web")
    home.env["AIRLOCK_CLIENT__API_URL"] = server.url
    home.airlock(
        "users", "create", "ann", "--role", "admin", "--password-stdin", stdin="pw-long-enough\n"
    )
    home.airlock("login", "-u", "ann", "--password-stdin", stdin="pw-long-enough\n")
    yield home, server
    stop(server)


def test_variables_set_and_get(logged_in: tuple[Home, ApiServer]) -> None:
    home, _ = logged_in
    home.airlock("variables", "set", "region", "eu-west-1")
    assert home.airlock("variables", "get", "region").stdout == "eu-west-1\n"
    home.airlock("variables", "set", "region", "--value-stdin", stdin="us-east-1\n")
    shown = json.loads(home.airlock("variables", "get", "region", "--output", "json").stdout)
    assert shown["value"] == "us-east-1"
    missing = home.airlock("variables", "get", "nope", check=False)
    assert missing.returncode == 2
    assert "'nope' not found" in missing.stderr


def test_connections_add_masks_the_password(logged_in: tuple[Home, ApiServer]) -> None:
    home, _ = logged_in
    added = home.airlock(
        "connections",
        "add",
        "warehouse",
        "--conn-type",
        "postgres",
        "--host",
        "db.internal",
        "--port",
        "5432",
        "--password-stdin",
        stdin=SECRET + "\n",
    )
    assert "db.internal" in added.stdout
    assert SECRET not in added.stdout
    assert "***" in added.stdout
    bad = home.airlock(
        "connections", "add", "x", "--conn-type", "http", "--extra", "{oops", check=False
    )
    assert bad.returncode == 2
    assert "--extra is not valid JSON" in bad.stderr


def test_runs_list_and_task_logs_of_unknown_things(logged_in: tuple[Home, ApiServer]) -> None:
    home, _ = logged_in
    page = json.loads(home.airlock("runs", "list", "--output", "json").stdout)
    assert page == {"dag_runs": [], "total_entries": 0}
    assert home.airlock("runs", "list").stdout.split() == [
        "DAG_ID",
        "RUN_ID",
        "STATE",
        "RUN_TYPE",
        "DAG_VERSION_NUMBER",
        "START_DATE",
    ]
    unknown = home.airlock("runs", "list", "--dag", "ghost", check=False)
    assert unknown.returncode == 2
    assert "'ghost' not found" in unknown.stderr
    logs = home.airlock("tasks", "logs", "ghost", "r1", "t1", check=False)
    assert logs.returncode == 2
    assert "not found" in logs.stderr
    bad_sort = home.airlock("runs", "list", "--order-by", "secret", check=False)
    assert "sort by one of" in bad_sort.stderr


def test_tasks_show_prints_each_try_and_why_a_person_ended_it(
    logged_in: tuple[Home, ApiServer],
) -> None:
    home, _ = logged_in
    db = Database(home.db_url)
    try:
        with db.sessions() as session:
            install_dag(session, make_dag("shown", [task("only")]), bundle="cli")
    finally:
        db.close()
    home.airlock("dags", "trigger", "shown", "--run-id", "r1")
    before = json.loads(
        home.airlock("tasks", "show", "shown", "r1", "only", "--output", "json").stdout
    )
    ti = before["task_instance"]
    assert (ti["dag_id"], ti["run_id"], ti["task_id"]) == ("shown", "r1", "only")
    assert before["task_instance"]["state_reason"] is None
    # (the CLI has no verb to mark a task: a person does it through the Web API)
    token = home.token(TokenKind.USER, "ann", roles=["admin"])
    marked = httpx.patch(
        f"{home.env['AIRLOCK_CLIENT__API_URL']}/api/v1/dags/shown/dagRuns/r1/taskInstances/only",
        json={"new_state": "failed"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert marked.status_code == 200, marked.text
    shown = home.airlock("tasks", "show", "shown", "r1", "only").stdout
    assert shown.splitlines()[0] == "only: failed (marked failed by ann)"


def test_password_changes_ones_own_password_and_keeps_the_new_token(tmp_path: Path) -> None:
    home = make_home(tmp_path, f"sqlite:///{tmp_path / 'airlock.db'}")
    server = start_api(home, "web")
    try:
        home.env["AIRLOCK_CLIENT__API_URL"] = server.url
        home.airlock(
            "users", "create", "pat", "--role", "viewer", "--password-stdin", stdin="old-password\n"
        )
        home.airlock("login", "-u", "pat", "--password-stdin", stdin="old-password\n")
        saved = home.path / "cli-token"
        old_token = saved.read_text()
        wrong = home.airlock(
            "password", "--password-stdin", stdin="nope\nnew-password\n", check=False
        )
        assert wrong.returncode != 0
        assert "current password is wrong" in wrong.stderr
        changed = home.airlock("password", "--password-stdin", stdin="old-password\nnew-password\n")
        assert "password changed" in changed.stdout
        # The old login no longer works; the saved one (the new token) does.
        me = httpx.get(
            f"{server.url}/api/v1/auth/me", headers={"Authorization": f"Bearer {old_token}"}
        )
        assert me.status_code == 401, me.text
        assert home.airlock("dags", "list").returncode == 0
        assert saved.read_text() != old_token
        home.airlock("login", "-u", "pat", "--password-stdin", stdin="new-password\n")
    finally:
        stop(server)
