"""DAG versions: listing, the stored definition (zstd or plain), the graph, the source."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from airlock.db import DagVersion
from airlock.models.dag import SerializedDag, SerializedEdge, SerializedTaskGroup


@pytest.fixture
def etl(web: Any) -> Any:
    """Version 1: extract >> load. Version 2 adds a task group and a labelled edge."""
    web.add_dag(
        "etl",
        tasks=[web.task("extract", downstream=["load"]), web.task("load", upstream=["extract"])],
        edges=[SerializedEdge(source="extract", target="load")],
        source="# etl v1\n",
    )
    web.add_run("etl", "before_change")
    web.add_dag(
        "etl",
        tasks=[
            web.task("extract", downstream=["clean.dedupe"]),
            web.task(
                "clean.dedupe",
                upstream=["extract"],
                downstream=["load"],
                group_id="clean",
                task_display_name=None,
            ),
            web.task("load", upstream=["clean.dedupe"], trigger_rule="none_failed"),
        ],
        edges=[
            SerializedEdge(source="extract", target="clean.dedupe", label="rows"),
            SerializedEdge(source="clean.dedupe", target="load"),
        ],
        task_groups=[SerializedTaskGroup(group_id="clean", children=["clean.dedupe"])],
        source="# etl v2\n",
    )
    return web


def test_versions_are_listed_newest_first(etl: Any) -> None:
    body = etl.call("GET", "/dags/etl/dagVersions", etl.token("viewer")).json()
    assert [v["version_number"] for v in body["dag_versions"]] == [2, 1]
    assert body["total_entries"] == 2
    body = etl.call(
        "GET", "/dags/etl/dagVersions?order_by=version_number&limit=1", etl.token("viewer")
    ).json()
    assert [v["version_number"] for v in body["dag_versions"]] == [1]
    one = etl.call("GET", "/dags/etl/dagVersions/1", etl.token("viewer")).json()
    assert one["dag_id"] == "etl"
    assert len(one["content_hash"]) == 64


def test_graph_of_each_version(etl: Any) -> None:
    token = etl.token("viewer")
    old = etl.call("GET", "/dags/etl/dagVersions/1/graph", token).json()
    assert [n["id"] for n in old["nodes"]] == ["extract", "load"]
    assert old["edges"] == [{"source_id": "extract", "target_id": "load", "label": None}]
    assert old["task_groups"] == []
    new = etl.call("GET", "/dags/etl/dagVersions/2/graph", token).json()
    nodes = {n["id"]: n for n in new["nodes"]}
    assert nodes["clean.dedupe"]["label"] == "dedupe"
    assert nodes["clean.dedupe"]["group_id"] == "clean"
    assert nodes["load"]["trigger_rule"] == "none_failed"
    assert {(e["source_id"], e["target_id"], e["label"]) for e in new["edges"]} == {
        ("extract", "clean.dedupe", "rows"),
        ("clean.dedupe", "load", None),
    }
    assert new["task_groups"] == [
        {
            "group_id": "clean",
            "label": "clean",
            "parent_id": None,
            "children": ["clean.dedupe"],
            "tooltip": "",
            "ui_color": None,
        }
    ]


def test_a_past_run_keeps_the_graph_of_its_version(etl: Any) -> None:
    token = etl.token("viewer")
    run = etl.call("GET", "/dags/etl/dagRuns/before_change", token).json()
    assert run["dag_version_number"] == 1
    graph = etl.call(
        "GET", f"/dags/etl/dagVersions/{run['dag_version_number']}/graph", token
    ).json()
    assert [n["id"] for n in graph["nodes"]] == ["extract", "load"]
    assert etl.call("GET", "/dags/etl", token).json()["latest_version_number"] == 2


def test_definition_is_the_stored_blob_for_zstd_clients(etl: Any) -> None:
    with etl.session() as session:
        stored = session.query(DagVersion.blob).filter_by(dag_id="etl", version_number=2).scalar()
    headers = {"Authorization": f"Bearer {etl.token('viewer')}", "Accept-Encoding": "gzip, zstd"}
    with etl.client.stream(
        "GET", "/api/v1/dags/etl/dagVersions/2/definition", headers=headers
    ) as response:
        raw = b"".join(response.iter_raw())
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "zstd"
        assert response.headers["content-type"].startswith("application/json")
        assert "accept-encoding" in response.headers["vary"].lower()
    assert raw == stored


@pytest.mark.parametrize("accept", ["gzip", "identity", "zstd;q=0", ""])
def test_definition_is_plain_json_otherwise(etl: Any, accept: str) -> None:
    headers = {"Accept-Encoding": accept}
    response = etl.call(
        "GET", "/dags/etl/dagVersions/2/definition", etl.token("viewer"), headers=headers
    )
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    dag = msgspec.json.decode(response.content, type=SerializedDag)
    assert [t.task_id for t in dag.tasks] == ["clean.dedupe", "extract", "load"]


def test_source_of_a_version(etl: Any, expect_problem: Any) -> None:
    token = etl.token("viewer")
    latest = etl.call("GET", "/dagSources/etl", token).json()
    assert latest["content"] == "# etl v2\n"
    assert latest["version_number"] == 2
    first = etl.call("GET", "/dagSources/etl?version_number=1", token).json()
    assert first["content"] == "# etl v1\n"
    expect_problem(etl.call("GET", "/dagSources/etl?version_number=9", token), 404, "version 9")


def test_missing_versions_are_404(etl: Any, expect_problem: Any) -> None:
    token = etl.token("viewer")
    for path in ("", "/graph", "/definition"):
        response = etl.call("GET", f"/dags/etl/dagVersions/7{path}", token)
        expect_problem(response, 404, "has no version 7")
    expect_problem(etl.call("GET", "/dags/etl/dagVersions/x", token), 404)
    expect_problem(etl.call("GET", "/dags/nope/dagVersions/1/graph", token), 404, "'nope'")


def test_no_token_no_graph(etl: Any, expect_problem: Any) -> None:
    expect_problem(etl.call("GET", "/dags/etl/dagVersions/1/graph"), 401, "missing bearer token")
