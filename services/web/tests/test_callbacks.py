"""Callbacks in the Web API: per run and task instance, the dead-letter list, an op's retry,
counters; a team sees only its bundles' callbacks, a viewer cannot retry, bad input is a 4xx."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from airlock.db import CallbackRequest
from tests.support.problems import problem

from .conftest import WebEnv


def add(env: WebEnv, dag_id: str, bundle: str, state: str, task_id: str | None = None) -> int:
    now = dt.datetime.now(dt.UTC)
    with env.session() as session:
        session.execute(
            insert(CallbackRequest).values(
                kind="task_failure" if task_id else "dag_failure",
                bundle_name=bundle,
                dag_id=dag_id,
                run_id="r1",
                task_id=task_id,
                state=state,
                attempts=3 if state == "dead" else 1,
                last_error="ValueError: no" if state == "dead" else None,
                created_at=now - dt.timedelta(seconds=2),
                first_started_at=now - dt.timedelta(seconds=1),
                done_at=now if state in ("dead", "success") else None,
            )
        )
        session.commit()
        return int(session.scalar(select(CallbackRequest.id).order_by(CallbackRequest.id.desc())))


def test_callbacks_per_run_dead_letters_and_retry(web: WebEnv) -> None:
    web.add_dag("a_dag", bundle="team-a")
    web.add_run("a_dag", "r1")
    ok = add(web, "a_dag", "team-a", "success")
    dead = add(web, "a_dag", "team-a", "dead", task_id="t1")
    op = web.token("op")
    per_run = web.call("GET", "/dags/a_dag/dagRuns/r1/callbacks", op).json()
    assert [c["id"] for c in per_run["callbacks"]] == [ok, dead]
    per_task = web.call("GET", "/dags/a_dag/dagRuns/r1/callbacks?task_id=t1", op).json()
    assert [c["id"] for c in per_task["callbacks"]] == [dead]
    letters = web.call("GET", "/callbacks?state=dead", op).json()
    assert [(c["id"], c["last_error"]) for c in letters["callbacks"]] == [(dead, "ValueError: no")]
    counters = web.call("GET", "/callbacks/counters", op).json()
    assert (counters["succeeded"], counters["dead_lettered"]) == (1, 1)
    assert counters["dispatch_p50_ms"] >= 900
    retried = web.call("POST", f"/callbacks/{dead}/retry", op)
    assert retried.status_code == 200, retried.text
    assert (retried.json()["state"], retried.json()["max_attempts"]) == ("queued", 6)
    problem(web.call("POST", f"/callbacks/{dead}/retry", op), 409, "only a dead-lettered")


def test_a_viewer_cannot_retry_and_a_team_sees_only_its_bundles(web: WebEnv) -> None:
    web.add_dag("b_dag", bundle="team-b")
    theirs = add(web, "b_dag", "team-b", "dead")
    problem(web.call("POST", f"/callbacks/{theirs}/retry", web.token("viewer")), 403, "op")
    team_a = web.token("op", bundles=["team-a"])
    problem(web.call("POST", f"/callbacks/{theirs}/retry", team_a), 404, "not found")
    assert web.call("GET", "/callbacks", team_a).json()["callbacks"] == []
    problem(web.call("GET", "/dags/b_dag/dagRuns/r1/callbacks", team_a), 404)


def test_bad_filters_are_4xx(web: WebEnv) -> None:
    op = web.token("op")
    problem(web.call("GET", "/callbacks?state=lost", op), 422, "Invalid enum value 'lost'")
    problem(web.call("GET", "/callbacks?order_by=color", op), 400, "cannot sort")
    problem(web.call("GET", "/callbacks?limit=0", op), 422, "limit")
    problem(web.call("POST", "/callbacks/abc/retry", op), 404)
