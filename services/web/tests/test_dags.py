"""The DAG list, detail, pause/unpause and import errors, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airlock.db import Bundle, ParseImportError
from airlock.models.states import DagRunState

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def dags(web: Any) -> Any:
    """Five DAGs in two bundles; runs for two of them."""
    web.add_dag("etl_daily", tags=["finance", "daily"], owners=["ann"], dag_display_name="ETL")
    web.add_dag("etl_hourly", tags=["finance"], owners=["bob"])
    web.add_dag("report", tags=["daily"], owners=["ann"], description="the report")
    web.add_dag("ml_train", bundle="team-b", tags=["ml"], owners=["cid"])
    web.add_dag("old_one", bundle="team-b")
    web.update_dag("old_one", is_stale=True)
    web.update_dag("etl_hourly", is_paused=True, has_import_errors=True)
    web.add_run("etl_daily", "r1", state=DagRunState.FAILED, run_after=T0)
    web.add_run("etl_daily", "r2", state=DagRunState.SUCCESS, run_after=T0 + dt.timedelta(days=1))
    web.add_run("report", "r1", state=DagRunState.RUNNING, run_after=T0)
    web.update_dag("report", next_dagrun=T0, next_dagrun_create_after=T0 + dt.timedelta(days=1))
    return web


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [dag["dag_id"] for dag in response.json()["dags"]]


def test_list_shows_last_run_next_run_and_version(dags: Any) -> None:
    body = dags.call("GET", "/dags", dags.token("viewer")).json()
    assert body["total_entries"] == 4  # the stale DAG is left out
    by_id = {dag["dag_id"]: dag for dag in body["dags"]}
    assert list(by_id) == ["etl_daily", "etl_hourly", "ml_train", "report"]
    assert by_id["etl_daily"]["last_run"]["run_id"] == "r2"
    assert by_id["etl_daily"]["last_run"]["state"] == "success"
    assert by_id["etl_daily"]["dag_display_name"] == "ETL"
    assert by_id["etl_daily"]["latest_version_number"] == 1
    assert by_id["report"]["last_run"]["state"] == "running"
    assert by_id["report"]["next_dagrun_logical_date"] == "2026-01-01T00:00:00Z"
    assert by_id["report"]["next_dagrun_run_after"] == "2026-01-02T00:00:00Z"
    assert by_id["ml_train"]["last_run"] is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("search=etl", ["etl_daily", "etl_hourly"]),
        ("search=ETL", ["etl_daily", "etl_hourly"]),
        ("dag_display_name_pattern=etl", ["etl_daily", "etl_hourly"]),
        ("dag_id_pattern=_h", ["etl_hourly"]),
        ("tags=finance", ["etl_daily", "etl_hourly"]),
        ("tags=finance&tags=ml", ["etl_daily", "etl_hourly", "ml_train"]),
        ("tags=finance&tags=daily&tags_match_mode=all", ["etl_daily"]),
        ("owners=ann", ["etl_daily", "report"]),
        ("bundle_name=team-b", ["ml_train"]),
        ("bundle_name=team-b&exclude_stale=false", ["ml_train", "old_one"]),
        ("stale=true", ["old_one"]),
        ("paused=true", ["etl_hourly"]),
        ("paused=false", ["etl_daily", "ml_train", "report"]),
        ("has_import_errors=true", ["etl_hourly"]),
        ("order_by=-dag_id", ["report", "ml_train", "etl_hourly", "etl_daily"]),
        ("order_by=bundle_name,-dag_id", ["report", "etl_hourly", "etl_daily", "ml_train"]),
        ("order_by=dag_display_name", ["ETL", "etl_hourly", "ml_train", "report"]),
        ("limit=2&offset=1", ["etl_hourly", "ml_train"]),
    ],
)
def test_filters_and_sorting(dags: Any, query: str, expected: list[str]) -> None:
    response = dags.call("GET", f"/dags?{query}", dags.token("viewer"))
    if "dag_display_name" in query and "order_by" in query:
        assert [d["dag_display_name"] for d in response.json()["dags"]] == expected
    else:
        assert ids(response) == expected


@pytest.mark.parametrize(
    "hostile",
    [
        "' OR 1=1 --",
        "e%y",  # as a pattern, would match etl_daily
        "e_l",  # as a pattern, would match etl_daily
        "\\",
        "etl'; DROP TABLE dag; --",
        '") OR ("1"="1',
    ],
)
def test_sql_looking_filters_match_literally(dags: Any, hostile: str) -> None:
    token = dags.token("viewer")
    for name in ("search", "dag_id_pattern", "tags", "owners", "bundle_name"):
        response = dags.call("GET", "/dags", token, params={name: hostile})
        assert ids(response) == [], (name, hostile)
    # The table is still there and whole.
    assert dags.call("GET", "/dags", token).json()["total_entries"] == 4


def test_absurd_page_size_is_capped(dags: Any) -> None:
    response = dags.call("GET", "/dags?limit=100000000", dags.token("viewer"))
    assert len(ids(response)) == 4
    response = dags.call("GET", "/dags?limit=0", dags.token("viewer"))
    assert len(ids(response)) == 1


def test_unknown_sort_key_is_400_naming_the_allowed_ones(dags: Any, expect_problem: Any) -> None:
    response = dags.call("GET", "/dags?order_by=fileloc;DROP", dags.token("viewer"))
    body = expect_problem(response, 400, "cannot sort by 'fileloc;DROP'")
    assert "dag_id" in body["detail"]
    assert "next_dagrun" in body["allowed"]


def test_bad_paging_and_filters_are_4xx(dags: Any, expect_problem: Any) -> None:
    token = dags.token("viewer")
    expect_problem(dags.call("GET", "/dags?offset=-1", token), 422, "offset")
    expect_problem(dags.call("GET", "/dags?tags_match_mode=some", token), 400, "tags_match_mode")
    expect_problem(dags.call("GET", "/dags?paused=maybe", token), 422, "paused")
    expect_problem(dags.call("GET", "/dags?limit=lots", token), 422, "limit")


def test_team_scoped_user_sees_only_its_bundles(dags: Any, expect_problem: Any) -> None:
    token = dags.token("op", bundles=["team-b"])
    assert ids(dags.call("GET", "/dags", token)) == ["ml_train"]
    assert ids(dags.call("GET", "/dags?bundle_name=team-a", token)) == []
    for path in ("/dags/etl_daily", "/dags/etl_daily/dagVersions", "/dagSources/etl_daily"):
        expect_problem(dags.call("GET", path, token), 404, "'etl_daily' not found")
    # Same answer as for a DAG that does not exist: no leak of its existence.
    expect_problem(dags.call("GET", "/dags/no_such_dag", token), 404, "'no_such_dag' not found")
    response = dags.call("PATCH", "/dags/etl_daily", token, json={"is_paused": True})
    expect_problem(response, 404, "not found")
    assert dags.call("GET", "/dags/ml_train", token).status_code == 200


def test_detail_reads_the_latest_version(web: Any) -> None:
    tasks = [web.task("extract"), web.task("load", upstream=["extract"])]
    web.add_dag("etl", tasks=tasks, doc_md="# ETL", tags=["x"])
    web.add_dag("etl", tasks=[*tasks, web.task("report")], doc_md="# ETL v2")
    body = web.call("GET", "/dags/etl", web.token("viewer")).json()
    assert body["doc_md"] == "# ETL v2"
    assert body["task_count"] == 3
    assert body["latest_version_number"] == 2
    assert body["fileloc"] == "/bundles/team-a/etl.py"


def test_pause_and_unpause_need_op(dags: Any, expect_problem: Any) -> None:
    response = dags.call("PATCH", "/dags/report", dags.token("viewer"), json={"is_paused": True})
    expect_problem(response, 403, "op role")
    response = dags.call("PATCH", "/dags/report", dags.token("op"), json={"is_paused": True})
    assert response.status_code == 200, response.text
    assert response.json()["is_paused"] is True
    assert ids(dags.call("GET", "/dags?paused=true", dags.token("viewer"))) == [
        "etl_hourly",
        "report",
    ]
    response = dags.call("PATCH", "/dags/report", dags.token("admin"), json={"is_paused": False})
    assert response.json()["is_paused"] is False
    expect_problem(
        dags.call("PATCH", "/dags/report", dags.token("op"), json={"is_paused": "yes"}),
        422,
        "is_paused",
    )
    expect_problem(
        dags.call("PATCH", "/dags/report", dags.token("op"), json={"paused": True}),
        422,
        "paused",
    )


def test_import_errors_are_listed_within_the_team_scope(web: Any, expect_problem: Any) -> None:
    with web.session() as session:
        session.add_all([Bundle(name="team-a"), Bundle(name="team-b")])
        session.add_all(
            [
                ParseImportError(
                    bundle_name="team-a", filename="a/bad.py", stacktrace="SyntaxError"
                ),
                ParseImportError(bundle_name="team-b", filename="b/worse.py", stacktrace="Boom"),
            ]
        )
        session.commit()
    body = web.call("GET", "/importErrors", web.token("viewer")).json()
    assert [e["filename"] for e in body["import_errors"]] == ["a/bad.py", "b/worse.py"]
    assert body["total_entries"] == 2
    scoped = web.token("viewer", bundles=["team-b"])
    body = web.call("GET", "/importErrors", scoped).json()
    assert [e["stack_trace"] for e in body["import_errors"]] == ["Boom"]
    other = web.call("GET", "/importErrors", web.token("viewer")).json()["import_errors"][0]
    expect_problem(
        web.call("GET", f"/importErrors/{other['import_error_id']}", scoped), 404, "not found"
    )
    body = web.call("GET", "/importErrors?filename_pattern=%25", web.token("viewer")).json()
    assert body["total_entries"] == 0
    expect_problem(
        web.call("GET", "/importErrors?order_by=stacktrace", web.token("viewer")), 400, "sort"
    )


def test_nul_characters_are_refused_not_crashed_on(dags: Any, expect_problem: Any) -> None:
    token = dags.token("admin")
    for name in ("search", "tags", "owners", "bundle_name", "dag_id_pattern"):
        response = dags.call("GET", "/dags", token, params={name: "a\x00b"})
        expect_problem(response, 400, f"{name} must not contain NUL")
    expect_problem(dags.call("GET", "/dags/etl%00daily", token), 404, "not found")
    expect_problem(dags.call("GET", "/importErrors?filename_pattern=%00", token), 400, "NUL")
    body = {"username": "a\x00b", "password": "long-enough", "roles": ["op"]}
    expect_problem(dags.call("POST", "/users", token, json=body), 400, "username must not")
    expect_problem(dags.call("GET", "/users/a%00b", token), 400, "username must not")
