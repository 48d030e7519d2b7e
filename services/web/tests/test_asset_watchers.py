"""``GET /api/v1/assets/{asset_id}/watchers`` on the real app and database (SQLite and
PostgreSQL): an asset's watchers with the status their triggerer reported, ``waiting`` while
none holds one, another team's asset 404, no token 401."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update

from airlock.db import Asset, AssetWatcher
from airlock.db.assets import set_dag_asset_references
from airlock.models.dag import AssetRef, AssetSchedule, SerializedWatcher
from airlock.scheduling.watchers import sync_watchers

STREAM = AssetRef(name="stream", uri="redis://orders")


def _setup(web: Any) -> int:
    """A DAG of ``team-a`` scheduled on ``STREAM`` with one watcher, as the DAG sync leaves it;
    the asset's id."""
    now = dt.datetime.now(dt.UTC)
    web.add_dag("on_stream", bundle="team-a", schedule=AssetSchedule(condition=STREAM))
    watcher = SerializedWatcher(
        name="orders",
        asset=STREAM,
        trigger_classpath="airlock.sdk.triggers.events.RedisStreamTrigger",
        trigger_kwargs={"stream": "orders", "conn_id": "redis_default"},
    )
    with web.session() as session:
        set_dag_asset_references(session, {"on_stream": ([STREAM], {})}, now)
        sync_watchers(session, {"on_stream": [watcher]}, now)
        session.commit()
        return int(session.scalars(select(Asset.id).where(Asset.uri == STREAM.uri)).one())


def test_watchers_show_their_reported_status(web: Any) -> None:
    asset_id = _setup(web)
    viewer = web.token("viewer")
    (waiting,) = web.call("GET", f"/assets/{asset_id}/watchers", viewer).json()["watchers"]
    assert (waiting["name"], waiting["dag_id"], waiting["state"]) == (
        "orders",
        "on_stream",
        "waiting",
    )
    assert waiting["classpath"] == "airlock.sdk.triggers.events.RedisStreamTrigger"
    assert "kwargs" not in waiting
    now = dt.datetime.now(dt.UTC)
    with web.session() as session:
        session.execute(
            update(AssetWatcher).values(
                triggerer="trig/t-1",
                lease_expires_at=now + dt.timedelta(seconds=10),
                state="reconnecting",
                lag=12,
                last_error="redis://127.0.0.1:6379/0/orders unreachable",
                status_at=now,
                events_stored=3,
            )
        )
        session.commit()
    body = web.call("GET", f"/assets/{asset_id}/watchers", viewer).json()
    assert body["total_entries"] == 1
    (held,) = body["watchers"]
    assert (held["state"], held["triggerer"], held["lag"], held["events_stored"]) == (
        "reconnecting",
        "trig/t-1",
        12,
        3,
    )
    assert held["last_error"] == "redis://127.0.0.1:6379/0/orders unreachable"
    # The holder's lease ran out: no one runs it now, whatever it last said.
    with web.session() as session:
        session.execute(update(AssetWatcher).values(lease_expires_at=now - dt.timedelta(seconds=1)))
        session.commit()
    (lapsed,) = web.call("GET", f"/assets/{asset_id}/watchers", viewer).json()["watchers"]
    assert (lapsed["state"], lapsed["triggerer"]) == ("waiting", None)


def test_another_teams_asset_and_no_token_are_refused(web: Any, expect_problem: Any) -> None:
    asset_id = _setup(web)
    team_b = web.token("viewer", bundles=["team-b"])
    expect_problem(web.call("GET", f"/assets/{asset_id}/watchers", team_b), 404, "not found")
    team_a = web.token("viewer", bundles=["team-a"])
    assert web.call("GET", f"/assets/{asset_id}/watchers", team_a).status_code == 200
    assert web.call("GET", f"/assets/{asset_id}/watchers").status_code == 401
    expect_problem(web.call("GET", "/assets/999999/watchers", web.token("viewer")), 404)
