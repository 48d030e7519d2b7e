"""`airlock dags list|show|pause|unpause` as a person types them, against a real
`airlock api --apps web` process; `airlock users create --bundles` for a team-scoped user."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from airlock.db import DagRun, make_engine, make_session_factory
from airlock.models.dag import SerializedDag
from airlock.models.states import DagRunState, DagRunType
from tests.support.dags import install_dag, task
from tests.support.processes import ApiServer, Home, make_home, start_api, stop

pytestmark = pytest.mark.slow  # its fixture starts airlock processes of its own


def add_dag(home: Home, dag_id: str, bundle: str, tags: list[str]) -> None:
    """A DAG and its first version, as the Internal API would store them, with a finished run."""
    dag = SerializedDag(
        dag_id=dag_id,
        tasks=[task("t", operator_class="x.Empty")],
        tags=tags,
        timetable_summary="@daily",
    )
    engine = make_engine(home.db_url)
    try:
        with make_session_factory(engine)() as session:
            version_id = install_dag(session, dag, bundle=bundle, folder="/b")
            session.add(
                DagRun(
                    dag_id=dag_id,
                    run_id="scheduled__1",
                    dag_version_id=version_id,
                    run_after=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                    run_type=DagRunType.SCHEDULED,
                    state=DagRunState.SUCCESS,
                )
            )
            session.commit()
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    path: Path = tmp_path_factory.mktemp("cli-dags")
    home = make_home(path, f"sqlite:///{path / 'airlock.db'}")
    server: ApiServer = start_api(home, "web")
    home.env["AIRLOCK_CLIENT__API_URL"] = server.url
    add_dag(home, "etl", "finance", ["finance", "daily"])
    add_dag(home, "train", "ml", ["ml"])
    home.airlock(
        "users", "create", "ann", "--role", "op", "--password-stdin", stdin="pw-long-enough\n"
    )
    home.airlock("login", "-u", "ann", "--password-stdin", stdin="pw-long-enough\n")
    yield home
    stop(server)


def test_list_as_a_table(cli: Home) -> None:
    listed = cli.airlock("dags", "list")
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:3] == ["DAG_ID", "BUNDLE_NAME", "IS_PAUSED"]
    assert lines[1].split()[:3] == ["etl", "finance", "no"]
    assert "success" in lines[1]
    assert "2026-01-01 00:00:00" in lines[1]
    assert lines[2].startswith("train")
    assert "(1-2 of 2 DAGs)" in listed.stderr


def test_list_as_json_with_filters(cli: Home) -> None:
    listed = json.loads(cli.airlock("dags", "list", "--tag", "ml", "--output", "json").stdout)
    assert listed["total_entries"] == 1
    assert listed["dags"][0]["dag_id"] == "train"
    assert listed["dags"][0]["last_run"]["state"] == "success"
    listed = json.loads(cli.airlock("dags", "list", "--search", "' OR 1=1", "-o", "json").stdout)
    assert listed == {"dags": [], "total_entries": 0}
    bad = cli.airlock("dags", "list", "--order-by", "password", check=False)
    assert bad.returncode == 2
    assert "cannot sort by 'password'" in bad.stderr


def test_show_pause_and_unpause(cli: Home) -> None:
    shown = cli.airlock("dags", "show", "etl").stdout
    fields = dict(([*line.split(maxsplit=1), ""])[:2] for line in shown.splitlines())
    assert fields["latest_version_number"] == "1"
    assert fields["tags"] == "finance, daily"
    assert fields["last_run_state"] == "success"
    assert cli.airlock("dags", "pause", "etl").stdout == "etl is paused\n"
    paused = json.loads(cli.airlock("dags", "list", "--paused", "-o", "json").stdout)
    assert [d["dag_id"] for d in paused["dags"]] == ["etl"]
    detail = json.loads(cli.airlock("dags", "show", "etl", "--output", "json").stdout)
    assert detail["is_paused"] is True
    assert detail["task_count"] == 1
    assert cli.airlock("dags", "unpause", "etl").stdout == "etl is unpaused\n"
    missing = cli.airlock("dags", "show", "nope", check=False)
    assert missing.returncode == 2
    assert "'nope' not found" in missing.stderr


def test_team_scoped_viewer(cli: Home) -> None:
    cli.airlock(
        "users",
        "create",
        "mo",
        "--role",
        "viewer",
        "--bundles",
        "ml,other",
        "--password-stdin",
        stdin="pw-long-enough\n",
    )
    env = dict(cli.env)
    try:
        cli.airlock("login", "-u", "mo", "--password-stdin", stdin="pw-long-enough\n")
        listed = json.loads(cli.airlock("dags", "list", "-o", "json").stdout)
        assert [d["dag_id"] for d in listed["dags"]] == ["train"]
        hidden = cli.airlock("dags", "show", "etl", check=False)
        assert "'etl' not found" in hidden.stderr
        refused = cli.airlock("dags", "pause", "train", check=False)
        assert refused.returncode == 2
        assert "needs the op role" in refused.stderr
    finally:
        cli.env = env
        cli.airlock("login", "-u", "ann", "--password-stdin", stdin="pw-long-enough\n")
