"""DAG runs and task instances over the real Web API: list, filter, page, sort, trigger, mark,
clear, annotate, delete; task instance details with every try, logs, marking and clearing; and
what each role and team may do (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update

from airlock.db import LogChunk, TaskInstance, TaskInstanceHistory, XCom
from airlock.models.states import TaskInstanceState as TIS

T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)


def chain_dag(web: Any, dag_id: str = "etl", bundle: str = "team-a") -> None:
    """extract → transform → load."""
    t = web.task
    web.add_dag(
        dag_id,
        bundle=bundle,
        tasks=[
            t("extract", downstream=["transform"]),
            t("transform", upstream=["extract"], downstream=["load"], retries=2),
            t("load", upstream=["transform"]),
        ],
    )


def trigger(web: Any, dag_id: str, run_id: str, **body: Any) -> dict[str, Any]:
    response = web.call(
        "POST", f"/dags/{dag_id}/dagRuns", web.token("op"), json={"run_id": run_id, **body}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def set_states(web: Any, dag_id: str, run_id: str, **states: TIS | None) -> None:
    """Move task instances as workers would have (test setup)."""
    with web.session() as session:
        for task_id, state in states.items():
            session.execute(
                update(TaskInstance)
                .where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.run_id == run_id,
                    TaskInstance.task_id == task_id,
                )
                .values(state=state, try_number=1, end_date=T0, start_date=T0)
            )
        session.commit()


def ti_states(web: Any, dag_id: str, run_id: str) -> dict[str, str | None]:
    body = web.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", web.token("viewer"))
    assert body.status_code == 200, body.text
    return {ti["task_id"]: ti["state"] for ti in body.json()["task_instances"]}


def test_trigger_queues_first_task_and_lists_runs(web: Any) -> None:
    chain_dag(web)
    chain_dag(web, "other")
    run = trigger(web, "etl", "r1", note="first")
    assert run["state"] == "running"
    assert run["dag_version_number"] == 1
    assert ti_states(web, "etl", "r1") == {"extract": "queued", "transform": None, "load": None}
    trigger(web, "etl", "r2")
    trigger(web, "other", "r3")
    viewer = web.token("viewer")

    runs = web.call("GET", "/dags/etl/dagRuns", viewer).json()
    assert runs["total_entries"] == 2
    assert [r["run_id"] for r in runs["dag_runs"]] == ["r2", "r1"]  # newest first
    every = web.call("GET", "/dags/~/dagRuns", viewer, params={"order_by": "run_id"}).json()
    assert [r["run_id"] for r in every["dag_runs"]] == ["r1", "r2", "r3"]
    page = web.call("GET", "/dags/~/dagRuns", viewer, params={"limit": 1, "offset": 1}).json()
    assert (len(page["dag_runs"]), page["total_entries"]) == (1, 3)
    capped = web.call("GET", "/dags/~/dagRuns", viewer, params={"limit": 10**9})
    assert capped.status_code == 200
    assert capped.json()["total_entries"] == 3
    by_state = web.call("GET", "/dags/~/dagRuns", viewer, params={"state": ["success"]}).json()
    assert by_state["total_entries"] == 0
    after = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    later = web.call("GET", "/dags/~/dagRuns", viewer, params={"run_after_gte": after}).json()
    assert later["total_entries"] == 0


def test_bad_list_queries_are_clear_4xx(web: Any, expect_problem: Any) -> None:
    chain_dag(web)
    viewer = web.token("viewer")
    body = expect_problem(
        web.call("GET", "/dags/~/dagRuns", viewer, params={"order_by": "-password"}), 400, "sort by"
    )
    assert "run_after" in body["allowed"]
    expect_problem(
        web.call(
            "GET", "/dags/~/dagRuns", viewer, params={"logical_date_gte": "2025-01-01T00:00:00"}
        ),
        422,
        "has no time zone",
    )
    expect_problem(
        web.call("GET", "/dags/~/dagRuns", viewer, params={"state": "bogus"}), 422, "'bogus'"
    )
    expect_problem(
        web.call("GET", "/dags/~/dagRuns/~/taskInstances", viewer, params={"order_by": "x"}),
        400,
        "sort by",
    )
    injected = web.call(
        "GET",
        "/dags/~/dagRuns/~/taskInstances",
        viewer,
        params={"task_id": "x' OR '1'='1", "pool": "p'; DROP TABLE dag_run; --"},
    )
    assert injected.status_code == 200
    assert injected.json()["total_entries"] == 0
    expect_problem(web.call("GET", "/dags/etl'--/dagRuns", viewer), 404, "not found")


def test_mark_note_clear_and_delete_a_run(web: Any) -> None:
    chain_dag(web)
    trigger(web, "etl", "r1")
    set_states(
        web, "etl", "r1", extract=TIS.SUCCESS, transform=TIS.FAILED, load=TIS.UPSTREAM_FAILED
    )
    op = web.token("op")

    failed = web.call("PATCH", "/dags/etl/dagRuns/r1", op, json={"state": "failed", "note": "bad"})
    assert failed.status_code == 200, failed.text
    assert (failed.json()["state"], failed.json()["note"]) == ("failed", "bad")

    dry = web.call("POST", "/dags/etl/dagRuns/r1/clear", op, json={"only_failed": True}).json()
    assert dry["dry_run"] is True
    assert {t["task_id"]: t["state"] for t in dry["task_instances"]} == {
        "transform": "failed",
        "load": "upstream_failed",
    }
    assert ti_states(web, "etl", "r1")["transform"] == "failed"  # a dry run changes nothing

    done = web.call(
        "POST", "/dags/etl/dagRuns/r1/clear", op, json={"only_failed": True, "dry_run": False}
    ).json()
    assert done["dag_run"]["state"] == "running"
    # Cleared and queued at once in the same request: the scheduler need not run first.
    assert ti_states(web, "etl", "r1") == {
        "extract": "success",
        "transform": "queued",
        "load": None,
    }
    ok = web.call("PATCH", "/dags/etl/dagRuns/r1", op, json={"state": "success"}).json()
    assert ok["state"] == "success"
    assert set(ti_states(web, "etl", "r1").values()) == {"success"}
    cleared_note = web.call("PATCH", "/dags/etl/dagRuns/r1", op, json={"note": ""}).json()
    assert cleared_note["note"] is None

    with web.session() as session:
        session.add(XCom(dag_id="etl", run_id="r1", task_id="extract", key="k", value="1"))
        session.commit()
    assert web.call("DELETE", "/dags/etl/dagRuns/r1", op).status_code == 204
    assert web.call("GET", "/dags/etl/dagRuns/r1", op).status_code == 404
    with web.session() as session:
        assert session.scalars(select(TaskInstance)).all() == []
        assert session.scalars(select(XCom)).all() == []


def test_task_instance_detail_tries_logs_and_xcoms(web: Any) -> None:
    chain_dag(web)
    trigger(web, "etl", "r1")
    set_states(web, "etl", "r1", extract=TIS.RUNNING)
    with web.session() as session:
        ti = session.scalars(select(TaskInstance).where(TaskInstance.task_id == "extract")).one()
        ti.try_number = 2
        session.add(TaskInstanceHistory(task_instance_id=ti.id, try_number=1, state=TIS.FAILED))
        session.add_all(
            LogChunk(task_instance_id=ti.id, try_number=2, seq=i, lines=f"line {i}a\nline {i}b")
            for i in range(3)
        )
        session.add(
            XCom(dag_id="etl", run_id="r1", task_id="extract", key="return_value", value='{"n":1}')
        )
        session.commit()
    viewer = web.token("viewer")
    detail = web.call("GET", "/dags/etl/dagRuns/r1/taskInstances/extract", viewer).json()
    assert [(t["try_number"], t["state"]) for t in detail["tries"]] == [
        (1, "failed"),
        (2, "running"),
    ]
    logs = web.call("GET", "/dags/etl/dagRuns/r1/taskInstances/extract/logs/2", viewer).json()
    assert logs["lines"][:2] == ["line 0a", "line 0b"]
    assert logs["complete"] is False
    more = web.call(
        "GET",
        "/dags/etl/dagRuns/r1/taskInstances/extract/logs/2",
        viewer,
        params={"cursor": logs["next_cursor"]},
    ).json()
    assert more["lines"] == []  # following: nothing new yet
    xcoms = web.call("GET", "/dags/etl/dagRuns/r1/taskInstances/extract/xcomEntries", viewer).json()
    assert [(x["key"], x["value"]) for x in xcoms["xcom_entries"]] == [("return_value", {"n": 1})]
    one = web.call(
        "GET", "/dags/etl/dagRuns/r1/taskInstances/extract/xcomEntries/return_value", viewer
    )
    assert one.json()["value"] == {"n": 1}
    across = web.call(
        "GET", "/dags/~/dagRuns/~/taskInstances", viewer, params={"state": ["running"]}
    ).json()
    assert [(t["dag_id"], t["task_id"]) for t in across["task_instances"]] == [("etl", "extract")]


def test_mark_and_clear_task_instances(web: Any, expect_problem: Any) -> None:
    chain_dag(web)
    trigger(web, "etl", "r1")
    op = web.token("op")
    marked = web.call(
        "PATCH",
        "/dags/etl/dagRuns/r1/taskInstances/extract",
        op,
        json={"new_state": "success"},
    )
    assert marked.status_code == 200, marked.text
    # The run reacted at once: transform is queued now.
    assert ti_states(web, "etl", "r1") == {
        "extract": "success",
        "transform": "queued",
        "load": None,
    }
    skipped = web.call(
        "PATCH",
        "/dags/etl/dagRuns/r1/taskInstances/transform",
        op,
        json={"new_state": "skipped", "include_downstream": True},
    ).json()
    assert sorted(t["task_id"] for t in skipped["task_instances"]) == ["load", "transform"]
    assert skipped["dag_run"]["state"] == "success"

    cleared = web.call(
        "POST",
        "/dags/etl/clearTaskInstances",
        op,
        json={
            "dag_run_id": "r1",
            "task_ids": ["transform"],
            "include_downstream": True,
            "dry_run": False,
        },
    ).json()
    assert sorted(t["task_id"] for t in cleared["task_instances"]) == ["load", "transform"]
    assert ti_states(web, "etl", "r1")["transform"] == "queued"
    expect_problem(
        web.call(
            "POST",
            "/dags/etl/clearTaskInstances",
            op,
            json={"dag_run_id": "r1", "task_ids": ["nope"], "dry_run": False},
        ),
        400,
        "'nope'",
    )
    expect_problem(
        web.call(
            "PATCH",
            "/dags/etl/dagRuns/r1/taskInstances/extract",
            op,
            json={"new_state": "running"},
        ),
        400,
        "success, failed, skipped",
    )


def test_a_person_marking_or_clearing_a_task_is_recorded_on_it_its_try_and_its_log(
    web: Any,
) -> None:
    chain_dag(web)
    trigger(web, "etl", "r1")
    set_states(web, "etl", "r1", extract=TIS.RUNNING)
    op = web.token("op")
    path = "/dags/etl/dagRuns/r1/taskInstances/extract"
    marked = web.call("PATCH", path, op, json={"new_state": "failed"})
    assert marked.status_code == 200, marked.text
    detail = web.call("GET", path, web.token("viewer")).json()
    reason = detail["task_instance"]["state_reason"]
    assert reason.startswith("marked failed by "), reason
    assert [(t["try_number"], t["state_reason"]) for t in detail["tries"]] == [(1, reason)]
    log = web.call("GET", f"{path}/logs/1", web.token("viewer")).json()
    assert log["lines"][-1].endswith(f"[airlock] {reason}")
    cleared = web.call(
        "POST",
        "/dags/etl/clearTaskInstances",
        op,
        json={"dag_run_id": "r1", "task_ids": ["extract"], "dry_run": False},
    )
    assert cleared.status_code == 200, cleared.text
    after = web.call("GET", path, web.token("viewer")).json()["task_instance"]
    assert after["state_reason"].startswith("cleared by "), after
    lines = web.call("GET", f"{path}/logs/1", web.token("viewer")).json()["lines"]
    assert [line.split(" [airlock] ")[1] for line in lines] == [reason, after["state_reason"]]


MUTATIONS = [
    ("POST", "/dags/etl/dagRuns", {"run_id": "x"}),
    ("PATCH", "/dags/etl/dagRuns/r1", {"state": "failed"}),
    ("POST", "/dags/etl/dagRuns/r1/clear", {"dry_run": False}),
    ("DELETE", "/dags/etl/dagRuns/r1", None),
    ("PATCH", "/dags/etl/dagRuns/r1/taskInstances/extract", {"new_state": "failed"}),
    ("POST", "/dags/etl/clearTaskInstances", {"dag_run_id": "r1", "dry_run": False}),
]


@pytest.mark.parametrize(("method", "path", "body"), MUTATIONS)
def test_a_viewer_cannot_change_runs(
    web: Any, expect_problem: Any, method: str, path: str, body: Any
) -> None:
    chain_dag(web)
    trigger(web, "etl", "r1")
    expect_problem(web.call(method, path, web.token("viewer"), json=body), 403, "op role")
    assert web.call("GET", "/dags/etl/dagRuns/r1", web.token("viewer")).json()["state"] == "running"


READS = [
    "/dags/etl/dagRuns/r1",
    "/dags/etl/dagRuns",
    "/dags/etl/dagRuns/r1/taskInstances",
    "/dags/etl/dagRuns/r1/taskInstances/extract",
    "/dags/etl/dagRuns/r1/taskInstances/extract/logs/1",
    "/dags/etl/dagRuns/r1/taskInstances/extract/xcomEntries",
]


@pytest.mark.parametrize("path", READS)
def test_another_team_sees_nothing(web: Any, expect_problem: Any, path: str) -> None:
    chain_dag(web, bundle="team-a")
    trigger(web, "etl", "r1")
    team_b = web.token("op", bundles=["team-b"])
    expect_problem(web.call("GET", path, team_b), 404, "not found")
    assert web.call("GET", path, web.token("viewer", bundles=["team-a"])).status_code == 200


def test_another_teams_runs_are_not_listed_or_changed(web: Any, expect_problem: Any) -> None:
    chain_dag(web, bundle="team-a")
    chain_dag(web, "b_dag", bundle="team-b")
    trigger(web, "etl", "r1")
    trigger(web, "b_dag", "rb")
    team_b = web.token("op", bundles=["team-b"])
    runs = web.call("GET", "/dags/~/dagRuns", team_b).json()
    assert [r["run_id"] for r in runs["dag_runs"]] == ["rb"]
    tis = web.call("GET", "/dags/~/dagRuns/~/taskInstances", team_b).json()
    assert {t["dag_id"] for t in tis["task_instances"]} == {"b_dag"}
    expect_problem(web.call("DELETE", "/dags/etl/dagRuns/r1", team_b), 404, "not found")
    expect_problem(
        web.call("POST", "/dags/etl/dagRuns/r1/clear", team_b, json={"dry_run": False}),
        404,
        "not found",
    )


def test_run_marks_clears_and_upstream_failures_are_recorded_on_each_task(web: Any) -> None:
    chain_dag(web)
    trigger(web, "etl", "r1")
    set_states(web, "etl", "r1", extract=TIS.RUNNING)
    op, viewer = web.token("op"), web.token("viewer")
    base = "/dags/etl/dagRuns/r1/taskInstances"
    marked = web.call("PATCH", "/dags/etl/dagRuns/r1", op, json={"state": "failed"})
    assert marked.status_code == 200, marked.text
    detail = web.call("GET", f"{base}/extract", viewer).json()
    reason = detail["task_instance"]["state_reason"]
    assert reason.startswith("its run was marked failed by "), reason
    assert [(t["try_number"], t["state_reason"]) for t in detail["tries"]] == [(1, reason)]
    log = web.call("GET", f"{base}/extract/logs/1", viewer).json()
    assert log["lines"][-1].endswith(f"[airlock] {reason}")
    skipped = web.call("GET", f"{base}/load", viewer).json()["task_instance"]
    assert (skipped["state"], skipped["state_reason"]) == ("skipped", reason)

    cleared = web.call("POST", "/dags/etl/dagRuns/r1/clear", op, json={"dry_run": False})
    assert cleared.status_code == 200, cleared.text
    after = web.call("GET", f"{base}/extract", viewer).json()["task_instance"]
    assert after["state_reason"].startswith("its run was cleared by "), after

    # A person fails extract: the scheduler fails what waited on it, and says why.
    failed = web.call("PATCH", f"{base}/extract", op, json={"new_state": "failed"})
    assert failed.status_code == 200, failed.text
    for task_id, upstream in (
        ("transform", "extract (failed)"),
        ("load", "transform (upstream_failed)"),
    ):
        ti = web.call("GET", f"{base}/{task_id}", viewer).json()["task_instance"]
        assert ti["state"] == "upstream_failed", ti
        assert ti["state_reason"] == (
            f"upstream failed by the scheduler: upstream {upstream}; trigger rule all_success"
        ), ti
