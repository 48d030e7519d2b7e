"""``GET /api/v1/triggers`` and a deferred task instance's trigger: class, kwargs with secrets
masked, lease holder, since when; scoped to the caller's bundles."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airlock.db import Dag, TaskInstance, Trigger
from airlock.models.states import TaskInstanceState


def _deferred(web: Any, dag_id: str, bundle: str) -> str:
    web.add_dag(dag_id, bundle=bundle)
    web.add_run(dag_id, "r1")
    now = dt.datetime.now(dt.UTC)
    with web.session() as session:
        ti = TaskInstance(
            dag_id=dag_id,
            run_id="r1",
            task_id="t1",
            map_index=-1,
            state=TaskInstanceState.DEFERRED,
            try_number=1,
            dag_version_id=session.get_one(Dag, dag_id).latest_version_id,
        )
        session.add(ti)
        session.flush()
        session.add(
            Trigger(
                task_instance_id=ti.id,
                classpath="pkg.Poll",
                kwargs={"url": "https://x", "api_token": "s3cr3t"},
                created_at=now,
                triggerer="trig/a",
                lease_expires_at=now + dt.timedelta(seconds=10),
                lease_epoch=1,
            )
        )
        session.commit()
        return str(ti.id)


def test_triggers_are_listed_with_their_holder_and_secrets_masked(web: Any) -> None:
    _deferred(web, "d1", "team-a")
    _deferred(web, "d2", "team-b")
    answer = web.call("GET", "/triggers", web.token("viewer"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total_entries"] == 2
    first = body["triggers"][0]
    assert (first["classpath"], first["dag_id"], first["task_id"], first["triggerer"]) == (
        "pkg.Poll",
        "d1",
        "t1",
        "trig/a",
    )
    assert first["kwargs"] == {"url": "https://x", "api_token": "***"}
    scoped = web.call("GET", "/triggers", web.token("viewer", bundles=["team-b"])).json()
    assert [t["dag_id"] for t in scoped["triggers"]] == ["d2"]
    assert web.call("GET", "/triggers").status_code == 401


def test_a_deferred_task_instance_shows_its_trigger(web: Any) -> None:
    _deferred(web, "d1", "team-a")
    answer = web.call("GET", "/dags/d1/dagRuns/r1/taskInstances/t1", web.token("viewer"))
    assert answer.status_code == 200, answer.text
    trigger = answer.json()["trigger"]
    assert (trigger["classpath"], trigger["triggerer"]) == ("pkg.Poll", "trig/a")
    assert trigger["kwargs"]["api_token"] == "***"
