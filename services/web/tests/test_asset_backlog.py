"""Unpausing an asset-scheduled DAG: the events that waited through the pause run or are
dropped, by the DAG's ``on_unpause`` or the request's ``asset_backlog``."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from airlock.db import AssetDagRunQueue
from airlock.models.dag import AssetBacklog, AssetRef, AssetRunPolicy, AssetSchedule

from .test_assets import add_asset_dag

ORDERS = AssetRef(name="orders", uri="s3://warehouse/orders")


def waiting(web: Any) -> int:
    with web.session() as session:
        return session.scalar(select(func.count()).select_from(AssetDagRunQueue)) or 0


@pytest.mark.parametrize(
    ("on_unpause", "choice", "left"),
    [
        (AssetBacklog.RUN, None, 2),
        (AssetBacklog.SKIP, None, 0),
        (AssetBacklog.RUN, "skip", 0),
        (AssetBacklog.SKIP, "run", 2),
    ],
)
def test_unpause_runs_or_drops_the_backlog(
    web: Any, on_unpause: AssetBacklog, choice: str | None, left: int
) -> None:
    policy = AssetRunPolicy(on_unpause=on_unpause)
    add_asset_dag(web, "c", "team-a", schedule=AssetSchedule(condition=ORDERS, policy=policy))
    op = web.token("op")
    assert web.call("PATCH", "/dags/c", op, json={"is_paused": True}).status_code == 200
    for key in ("a", "b"):
        pushed = web.call("POST", "/assets/events", op, json={"uri": ORDERS.uri, "dedup_key": key})
        assert pushed.status_code == 201
    assert waiting(web) == 2, "events wait for a paused DAG"
    body: dict[str, Any] = {"is_paused": False}
    if choice:
        body["asset_backlog"] = choice
    response = web.call("PATCH", "/dags/c", op, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["is_paused"] is False
    assert waiting(web) == left


def test_bad_backlog_choice(web: Any, expect_problem: Any) -> None:
    add_asset_dag(web, "c", "team-a", schedule=AssetSchedule(condition=ORDERS))
    expect_problem(
        web.call(
            "PATCH", "/dags/c", web.token("op"), json={"is_paused": False, "asset_backlog": "x"}
        ),
        422,
    )
