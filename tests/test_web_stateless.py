"""The Web API keeps nothing between requests: two `airlock api --apps web` processes on one DB
give the same answer to the same request, also right after a DAG file changed, and a run keeps
showing the graph of the DAG version it ran with.

DAG versions reach the DB the real way: a DAG file in a bundle folder, parsed by
`airlock dag-processor --once`, uploaded through a third process serving the Internal API.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from airlock.core.tokens import TokenKind
from tests.support.processes import ApiServer, Home, make_home, start_api, stop

PIPELINE = """
from datetime import datetime
from airlock.sdk import Label, dag, task

@dag(dag_id="stateless_etl", schedule="@daily", start_date=datetime(2024, 1, 1), tags=["{tag}"])
def pipeline():
    @task
    def extract():
        return 1

    @task
    def load(x):
        print(x)
{extra}
pipeline()
"""

V1_WIRING = """
    load(extract())
"""

V2_WIRING = """
    @task
    def audit():
        return 2

    first = extract()
    load(first)
    first >> Label("checked") >> audit()
"""

# Everything a person or the CLI reads about a DAG.
READS = [
    "/dags",
    "/dags?search=stateless&order_by=-dag_id",
    "/dags/stateless_etl",
    "/dags/stateless_etl/dagVersions",
    "/dags/stateless_etl/dagVersions/1",
    "/dags/stateless_etl/dagVersions/1/graph",
    "/dags/stateless_etl/dagVersions/1/definition",
    "/dagSources/stateless_etl",
    "/dagSources/stateless_etl?version_number=1",
    "/importErrors",
]


def write_dag(folder: Path, tag: str, extra: str = V1_WIRING) -> None:
    (folder / "etl.py").write_text(textwrap.dedent(PIPELINE.format(tag=tag, extra=extra)))


def parse_bundle(home: Home, internal: ApiServer, folder: Path) -> None:
    """One pass of the DAG processor over ``folder`` (the bundle "stateless")."""
    token = home.token(TokenKind.SERVICE, "dp", role="dag-processor", bundles=["stateless"])
    env = {
        k: v
        for k, v in home.env.items()
        if not k.startswith(("AIRLOCK_DATABASE", "AIRLOCK_SECRETS"))
    }
    env.update(
        {
            "AIRLOCK_ZONE": "processing",
            "AIRLOCK_DAG_PROCESSOR__API_URL": internal.url,
            "AIRLOCK_DAG_PROCESSOR__TOKEN": token,
            "AIRLOCK_DAG_PROCESSOR__BUNDLES": f"stateless={folder}",
        }
    )
    subprocess.run(
        [sys.executable, "-m", "airlock.cli", "dag-processor", "--bundle", "stateless", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


class Stack:
    def __init__(self, home: Home, internal: ApiServer, web_a: ApiServer, web_b: ApiServer):
        self.home = home
        self.internal = internal
        self.web = [web_a, web_b]
        home.airlock(
            "users", "create", "ops", "--role", "op", "--password-stdin", stdin="a-long-password\n"
        )
        login = httpx.post(
            f"{web_a.url}/api/v1/auth/token",
            json={"username": "ops", "password": "a-long-password"},
            timeout=10,
        )
        login.raise_for_status()
        self.headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    def get(self, server: int, path: str, **headers: str) -> httpx.Response:
        url = f"{self.web[server].url}/api/v1{path}"
        return httpx.get(url, headers={**self.headers, **headers}, timeout=10)

    def same_on_both(self, path: str) -> httpx.Response:
        """The answer of both replicas to ``path``, asserted identical."""
        first, second = self.get(0, path), self.get(1, path)
        assert first.status_code == second.status_code == 200, (path, first.text, second.text)
        assert first.content == second.content, path
        return first


@pytest.fixture
def stack(db_url: str, tmp_path: Path) -> Iterator[Stack]:
    home = make_home(tmp_path / "home", db_url)
    servers = [start_api(home, "internal"), start_api(home, "web"), start_api(home, "web")]
    try:
        yield Stack(home, *servers)
    finally:
        for server in servers:
            stop(server)


@pytest.mark.slow
def test_two_replicas_answer_alike_across_a_dag_change(stack: Stack, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    write_dag(bundle, tag="v1")
    (bundle / "broken.py").write_text("from airlock.sdk import dag\nimport no_such_module_here\n")
    parse_bundle(stack.home, stack.internal, bundle)

    for path in READS:
        stack.same_on_both(path)
    errors = stack.same_on_both("/importErrors").json()
    assert [e["filename"] for e in errors["import_errors"]] == ["broken.py"]

    # A run triggered through one replica is read alike through the other.
    trigger = httpx.post(
        f"{stack.web[0].url}/api/v1/dags/stateless_etl/dagRuns",
        json={"run_id": "before_change"},
        headers=stack.headers,
        timeout=10,
    )
    assert trigger.status_code == 201, trigger.text
    run = stack.same_on_both("/dags/stateless_etl/dagRuns/before_change").json()
    assert run["dag_version_number"] == 1

    # The file changes: a new version, visible at once on both replicas.
    write_dag(bundle, tag="v2", extra=V2_WIRING)
    parse_bundle(stack.home, stack.internal, bundle)
    for path in [*READS, "/dags/stateless_etl/dagVersions/2/graph", "/dagSources/stateless_etl"]:
        stack.same_on_both(path)
    detail = stack.same_on_both("/dags/stateless_etl").json()
    assert detail["latest_version_number"] == 2
    assert detail["tags"] == ["v2"]
    assert detail["task_count"] == 3
    new_graph = stack.same_on_both("/dags/stateless_etl/dagVersions/2/graph").json()
    assert {n["id"] for n in new_graph["nodes"]} == {"extract", "load", "audit"}
    assert {"source_id": "extract", "target_id": "audit", "label": "checked"} in new_graph["edges"]
    assert "audit()" in stack.same_on_both("/dagSources/stateless_etl").json()["content"]

    # The past run keeps its version, and that version keeps its graph.
    run = stack.same_on_both("/dags/stateless_etl/dagRuns/before_change").json()
    assert run["dag_version_number"] == 1
    old_graph = stack.same_on_both(
        f"/dags/stateless_etl/dagVersions/{run['dag_version_number']}/graph"
    ).json()
    assert {n["id"] for n in old_graph["nodes"]} == {"extract", "load"}
    listed = stack.same_on_both("/dags").json()["dags"]
    assert [(d["dag_id"], d["last_run"]["run_id"]) for d in listed] == [
        ("stateless_etl", "before_change")
    ]

    # A write through one replica is read through the other on the next request.
    paused = httpx.patch(
        f"{stack.web[1].url}/api/v1/dags/stateless_etl",
        json={"is_paused": True},
        headers=stack.headers,
        timeout=10,
    )
    assert paused.status_code == 200, paused.text
    assert stack.same_on_both("/dags/stateless_etl").json()["is_paused"] is True

    # The stored blob is served as stored by both, to a client that takes zstd.
    raw = []
    for server in stack.web:
        with httpx.stream(
            "GET",
            f"{server.url}/api/v1/dags/stateless_etl/dagVersions/2/definition",
            headers={**stack.headers, "Accept-Encoding": "zstd"},
            timeout=10,
        ) as response:
            assert response.headers["content-encoding"] == "zstd"
            raw.append(b"".join(response.iter_raw()))
    assert raw[0] == raw[1]
    assert raw[0][:4] == b"\x28\xb5\x2f\xfd"  # the zstd frame magic number
