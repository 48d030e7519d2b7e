"""Assets and asset events over the Web API: list (search, sort, paging), detail with consumers and
producers, events (filters, the runs they triggered), pushing an event (roles, dedup key, bad
input) and team scope (another team's asset is 404)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from airlock.db import AssetDagRunQueue, DagRun
from airlock.db.assets import schedule_assets, set_dag_asset_references
from airlock.models.dag import AssetAnyCond, AssetRef, AssetSchedule, SerializedTask
from airlock.scheduling import DagCache, create_asset_triggered_runs

ORDERS = AssetRef(name="orders", uri="s3://warehouse/orders.parquet")
CUSTOMERS = AssetRef(name="customers", uri="s3://warehouse/customers.parquet")
SECRET = AssetRef(name="payroll", uri="s3://hr/payroll_100%_secret")
#: A W3C traceparent a caller sends with its event.
CALLER_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def add_asset_dag(
    web: Any,
    dag_id: str,
    bundle: str,
    *,
    schedule: AssetSchedule | None = None,
    outlets: list[AssetRef] | None = None,
) -> None:
    """A DAG and its asset references, as the Internal API's DAG sync leaves them."""
    tasks: list[SerializedTask] = [web.task("t", outlets=list(outlets or []))]
    web.add_dag(dag_id, bundle=bundle, tasks=tasks, **({"schedule": schedule} if schedule else {}))
    with web.session() as session:
        refs = schedule_assets(schedule) if schedule else []
        set_dag_asset_references(
            session, {dag_id: (refs, {"t": list(outlets or [])})}, dt.datetime.now(dt.UTC)
        )
        session.commit()


def setup_assets(web: Any) -> None:
    add_asset_dag(web, "producer", "team-a", outlets=[ORDERS, CUSTOMERS])
    add_asset_dag(
        web,
        "consumer",
        "team-a",
        schedule=AssetSchedule(condition=AssetAnyCond(items=[ORDERS, CUSTOMERS])),
    )
    add_asset_dag(web, "hr", "team-b", schedule=AssetSchedule(condition=SECRET))


def asset_id(web: Any, uri: str) -> int:
    body = web.call("GET", "/assets", web.token("viewer"), params={"uri_pattern": uri}).json()
    (asset,) = body["assets"]
    return int(asset["id"])


def test_list_search_sort_and_page(web: Any, expect_problem: Any) -> None:
    setup_assets(web)
    viewer = web.token("viewer")
    body = web.call("GET", "/assets", viewer).json()
    assert body["total_entries"] == 3
    assert [a["uri"] for a in body["assets"]] == sorted([ORDERS.uri, CUSTOMERS.uri, SECRET.uri])

    named = web.call("GET", "/assets", viewer, params={"name_pattern": "ORD"}).json()
    assert [a["name"] for a in named["assets"]] == ["orders"]
    # LIKE wildcards are text, not patterns
    wild = web.call("GET", "/assets", viewer, params={"uri_pattern": "100%_s"}).json()
    assert [a["name"] for a in wild["assets"]] == ["payroll"]
    assert web.call("GET", "/assets", viewer, params={"uri_pattern": "o%s"}).json()["assets"] == []
    injected = web.call("GET", "/assets", viewer, params={"name_pattern": "' OR 1=1 --"})
    assert injected.json() == {"assets": [], "total_entries": 0}

    by_dag = web.call("GET", "/assets", viewer, params={"dag_ids": ["hr"]}).json()
    assert [a["name"] for a in by_dag["assets"]] == ["payroll"]

    page = web.call(
        "GET", "/assets", viewer, params={"order_by": "-name", "limit": 2, "offset": 1}
    ).json()
    assert [a["name"] for a in page["assets"]] == ["orders", "customers"]
    assert page["total_entries"] == 3
    huge = web.call("GET", "/assets", viewer, params={"limit": 10**9}).json()
    assert len(huge["assets"]) == 3

    problem = expect_problem(
        web.call("GET", "/assets", viewer, params={"order_by": "size"}), 400, "cannot sort by"
    )
    assert "uri" in problem["allowed"]


def test_detail_names_consumers_and_producers(web: Any, expect_problem: Any) -> None:
    setup_assets(web)
    viewer = web.token("viewer")
    detail = web.call("GET", f"/assets/{asset_id(web, ORDERS.uri)}", viewer).json()
    assert (detail["name"], detail["group"]) == ("orders", "asset")
    assert [c["dag_id"] for c in detail["consumers"]] == ["consumer"]
    assert [(p["dag_id"], p["task_id"]) for p in detail["producers"]] == [("producer", "t")]
    assert detail["last_event_at"] is None
    expect_problem(web.call("GET", "/assets/999999", viewer), 404, "asset with id 999999")
    expect_problem(web.call("GET", "/assets", None), 401)


def test_push_an_event_and_its_consumer_runs(web: Any, expect_problem: Any) -> None:
    setup_assets(web)
    op = web.token("op", sub="ann")
    orders = asset_id(web, ORDERS.uri)

    expect_problem(
        web.call("POST", "/assets/events", web.token("viewer"), json={"asset_id": orders}), 403
    )
    created = web.call(
        "POST",
        "/assets/events",
        op,
        json={"uri": ORDERS.uri, "extra": {"rows": 7}, "dedup_key": "batch-1"},
        headers={"traceparent": CALLER_TRACEPARENT},
    )
    assert created.status_code == 201, created.text
    event = created.json()
    assert (event["asset_id"], event["source"], event["extra"]) == (orders, "api:ann", {"rows": 7})

    again = web.call(
        "POST", "/assets/events", op, json={"asset_id": orders, "dedup_key": "batch-1"}
    )
    assert again.status_code == 200
    assert again.json()["id"] == event["id"]
    # the API started the consumer's (orders | customers) run itself, consuming the event:
    # nothing is left for the scheduler
    with web.session() as session:
        assert session.scalar(select(func.count()).select_from(AssetDagRunQueue)) == 0
        assert create_asset_triggered_runs(session, DagCache(), dt.datetime.now(dt.UTC)) == []
        (run,) = session.scalars(select(DagRun).where(DagRun.dag_id == "consumer")).all()
        assert (run.run_type, run.triggered_by, run.state) == (
            "asset_triggered",
            "asset",
            "running",
        )
        # and the run continues the caller's trace (ADR 0024)
        assert run.trace_parent == CALLER_TRACEPARENT
        run_id = run.run_id
    events = web.call(
        "GET", "/assets/events", web.token("viewer"), params={"asset_id": orders}
    ).json()
    assert events["total_entries"] == 1
    assert events["asset_events"][0]["created_dagruns"] == [
        {"dag_id": "consumer", "run_id": run_id}
    ]
    detail = web.call("GET", f"/assets/{orders}", web.token("viewer")).json()
    assert detail["last_event_at"] is not None


def test_bad_event_bodies(web: Any, expect_problem: Any) -> None:
    setup_assets(web)
    op = web.token("op")
    expect_problem(
        web.call("POST", "/assets/events", op, json={"uri": "s3://nowhere"}), 404, "s3://nowhere"
    )
    expect_problem(web.call("POST", "/assets/events", op, json={}), 422, "exactly one")
    expect_problem(
        web.call("POST", "/assets/events", op, json={"asset_id": 1, "uri": ORDERS.uri}),
        422,
        "exactly one",
    )
    bad = web.call("POST", "/assets/events", op, json={"uri": ORDERS.uri, "extra": [1]})
    assert bad.status_code in (400, 422), bad.text
    long_key = web.call(
        "POST", "/assets/events", op, json={"uri": ORDERS.uri, "dedup_key": "k" * 251}
    )
    assert long_key.status_code in (400, 422), long_key.text
    unknown = web.call("POST", "/assets/events", op, json={"uri": ORDERS.uri, "asset": 1})
    assert unknown.status_code in (400, 422), unknown.text


def test_events_filter_and_sort(web: Any, expect_problem: Any) -> None:
    setup_assets(web)
    op = web.token("op")
    for uri in (ORDERS.uri, CUSTOMERS.uri, ORDERS.uri):
        assert web.call("POST", "/assets/events", op, json={"uri": uri}).status_code == 201
    viewer = web.token("viewer")
    everything = web.call("GET", "/assets/events", viewer).json()
    assert everything["total_entries"] == 3
    ids = [e["id"] for e in everything["asset_events"]]
    assert ids == sorted(ids, reverse=True), "newest first"
    oldest = web.call("GET", "/assets/events", viewer, params={"order_by": "id", "limit": 1})
    assert oldest.json()["asset_events"][0]["uri"] == ORDERS.uri
    none = web.call("GET", "/assets/events", viewer, params={"source_dag_id": "producer"})
    assert none.json()["total_entries"] == 0
    expect_problem(
        web.call("GET", "/assets/events", viewer, params={"timestamp_gte": "2026-01-01T00:00:00"}),
        422,
        "has no time zone",
    )


def test_team_scope_hides_other_teams_assets(web: Any, expect_problem: Any) -> None:
    setup_assets(web)
    secret = asset_id(web, SECRET.uri)
    team_a = web.token("op", bundles=["team-a"])
    listed = web.call("GET", "/assets", team_a).json()
    assert sorted(a["name"] for a in listed["assets"]) == ["customers", "orders"]
    expect_problem(web.call("GET", f"/assets/{secret}", team_a), 404)
    expect_problem(
        web.call("POST", "/assets/events", team_a, json={"asset_id": secret}), 404, "not found"
    )
    expect_problem(
        web.call("POST", "/assets/events", team_a, json={"uri": SECRET.uri}), 404, "not found"
    )
    # team-b sees its asset, and events pushed by others, but not team-a's assets
    assert web.call("POST", "/assets/events", web.token("op"), json={"asset_id": secret}).is_success
    team_b = web.token("viewer", bundles=["team-b"])
    assert [a["name"] for a in web.call("GET", "/assets", team_b).json()["assets"]] == ["payroll"]
    assert web.call("GET", "/assets/events", team_b).json()["total_entries"] == 1
    assert web.call("GET", "/assets/events", team_a).json()["total_entries"] == 0
