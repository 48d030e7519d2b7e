"""Asset-triggered runs on the whole stack (`airlock run-all` with deploy/dags): a producer run's
success triggers its consumers' runs, and an asset event pushed through the Web API triggers
them too (and `airlock assets list` shows them) — `assets_consumer` (orders & customers) only once both assets have a new event,
`assets_any_consumer` (orders | customers) on either. A consumer's task sees the events that
triggered its run (``context["triggering_asset_events"]``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest

from tests.test_e2e_runs import Stack, stack, trigger  # noqa: F401 (the run-all fixture)

ORDERS = "s3://warehouse/orders.parquet"
CUSTOMERS = "s3://warehouse/customers.parquet"


def web_client(stack: Stack) -> httpx.Client:  # noqa: F811
    password = (stack.home / "admin-password.txt").read_text().strip()
    login = httpx.post(
        f"{stack.url}/api/v1/auth/token", json={"username": "admin", "password": password}
    )
    login.raise_for_status()
    token = login.json()["access_token"]
    return httpx.Client(
        base_url=f"{stack.url}/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def asset_runs(client: httpx.Client, dag_id: str) -> list[dict[str, Any]]:
    response = client.get(
        f"/dags/{dag_id}/dagRuns", params={"run_type": "asset_triggered", "order_by": "id"}
    )
    response.raise_for_status()
    runs: list[dict[str, Any]] = response.json()["dag_runs"]
    return runs


def wait_for_runs(
    client: httpx.Client, dag_id: str, count: int, timeout: float = 90
) -> list[dict[str, Any]]:
    """The DAG's asset-triggered runs once ``count`` of them have succeeded."""
    deadline = time.monotonic() + timeout
    while True:
        runs = asset_runs(client, dag_id)
        if sum(run["state"] == "success" for run in runs) >= count:
            return runs
        assert time.monotonic() < deadline, f"{dag_id}: {runs}"
        time.sleep(0.5)


def assert_consumer_saw_the_producer(client: httpx.Client, run_id: str) -> None:
    """``build_report`` returns its ``context["triggering_asset_events"]`` as an XCom: events of
    both assets, each from the producer's task."""
    response = client.get(
        f"/dags/assets_consumer/dagRuns/{run_id}/taskInstances/build_report/xcomEntries/return_value"
    )
    assert response.status_code == 200, response.text
    seen: dict[str, list[dict[str, Any]]] = response.json()["value"]
    assert set(seen) == {ORDERS, CUSTOMERS}
    producer_runs = client.get("/dags/assets_producer/dagRuns", params={"order_by": "id"}).json()[
        "dag_runs"
    ]
    # One event per asset and producer run (the scheduler may have run the @daily producer too).
    for uri in (ORDERS, CUSTOMERS):
        assert seen[uri], uri
        for event in seen[uri]:
            assert event["source_dag_id"] == "assets_producer"
            assert event["source_task_id"] == "refresh_tables"
            assert event["source_run_id"] in {run["run_id"] for run in producer_runs}
            assert event["timestamp"]


def push(client: httpx.Client, uri: str, dedup_key: str) -> dict[str, Any]:
    response = client.post(
        "/assets/events", json={"uri": uri, "dedup_key": dedup_key, "extra": {"from": "test"}}
    )
    assert response.status_code in (200, 201), response.text
    event: dict[str, Any] = response.json()
    return event


def settled(client: httpx.Client, timeout: float = 90) -> tuple[int, int]:
    """Once no producer or consumer run is active (and stays so for a moment): how many asset
    runs ``assets_consumer`` and ``assets_any_consumer`` have. (``assets_producer`` is also
    scheduled ``@daily``, so the scheduler may have run it on its own.)"""
    deadline = time.monotonic() + timeout
    last: tuple[int, int] | None = None
    while True:
        active = client.get(
            "/dags/~/dagRuns", params={"state": ["queued", "running"], "limit": 1000}
        ).json()["dag_runs"]
        busy = [r for r in active if r["dag_id"].startswith("assets_")]
        now = (
            len(asset_runs(client, "assets_consumer")),
            len(asset_runs(client, "assets_any_consumer")),
        )
        if not busy and now == last:
            return now
        last = None if busy else now
        assert time.monotonic() < deadline, busy
        time.sleep(1.5)


@pytest.mark.slow
def test_producer_success_and_pushed_events_trigger_consumers(stack: Stack) -> None:  # noqa: F811
    result = trigger(stack, "assets_producer")
    assert result.returncode == 0, result.stdout + result.stderr
    with web_client(stack) as client:
        both = wait_for_runs(client, "assets_consumer", 1)
        wait_for_runs(client, "assets_any_consumer", 1)
        assert both[0]["triggered_by"] == "asset"
        assert_consumer_saw_the_producer(client, both[0]["run_id"])

        assets = client.get("/assets", params={"uri_pattern": "s3://warehouse/"}).json()
        by_uri = {a["uri"]: a for a in assets["assets"]}
        assert set(by_uri) == {ORDERS, CUSTOMERS}
        assert {c["dag_id"] for c in by_uri[ORDERS]["consumers"]} == {
            "assets_consumer",
            "assets_any_consumer",
        }
        assert [p["dag_id"] for p in by_uri[ORDERS]["producers"]] == ["assets_producer"]
        events = client.get(
            "/assets/events", params={"source_dag_id": "assets_producer", "order_by": "id"}
        ).json()["asset_events"]
        assert {e["uri"] for e in events} == {ORDERS, CUSTOMERS}
        assert {r["dag_id"] for e in events for r in e["created_dagruns"]} == {
            "assets_consumer",
            "assets_any_consumer",
        }

        # pushed from outside: orders alone runs the `|` consumer, not the `&` one
        n_both, n_either = settled(client)
        first = push(client, ORDERS, "e2e-orders-1")
        assert push(client, ORDERS, "e2e-orders-1")["id"] == first["id"], "a retried POST"
        wait_for_runs(client, "assets_any_consumer", n_either + 1)
        assert settled(client) == (n_both, n_either + 1)
        push(client, CUSTOMERS, "e2e-customers-1")
        wait_for_runs(client, "assets_consumer", n_both + 1)
        assert settled(client) == (n_both + 1, n_either + 2)

    listed = stack.airlock("assets", "list", "--uri", "warehouse", check=True)
    lines = listed.stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "URI",
        "NAME",
        "GROUP",
        "CONSUMERS",
        "PRODUCERS",
        "LAST_EVENT_AT",
    ]
    assert [line.split()[1:6] for line in lines[1:]] == [
        [CUSTOMERS, "customers", "asset", "2", "1"],
        [ORDERS, "orders", "asset", "2", "1"],
    ]
    as_json = stack.airlock("assets", "list", "--output", "json", "--name", "nothing-like-it")
    assert as_json.returncode == 0, as_json.stderr
    assert '"total_entries": 0' in as_json.stdout


PUSHES = "github://acme/shop/pushes"
HOOK_SECRET = "e2e-webhook-secret"


def signed_push(stack: Stack, delivery: str, ref: str, secret: str = HOOK_SECRET) -> httpx.Response:  # noqa: F811
    body = json.dumps({"ref": ref}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return httpx.post(
        f"{stack.url}/api/v1/receivers/github_push",
        content=body,
        headers={"X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature},
        timeout=30,
    )


@pytest.mark.slow
def test_signed_webhooks_run_per_event_and_completions_follow(stack: Stack) -> None:  # noqa: F811
    """deploy/dags/webhooks.py: each signed push runs ``webhook_deploy`` once, consuming exactly
    its event; each deploy's success runs ``webhook_audit`` (DagCompleted); the batched
    ``webhook_digest`` waits for 10 pushes or a minute; a forged push makes nothing."""
    made = stack.airlock(
        "receivers",
        "create",
        "github_push",
        "--asset",
        PUSHES,
        "--dedup-key",
        'headers."x-github-delivery"',
        "--extra",
        "{ref: body.ref}",
        "--secret-stdin",
        input=HOOK_SECRET,
    )
    assert made.returncode == 0, made.stderr
    assert signed_push(stack, "forged", "main", secret="not-the-secret").status_code == 401
    ids = []
    for n in range(3):
        delivered = signed_push(stack, f"delivery-{n}", f"refs/heads/f{n}")
        assert delivered.status_code == 201, delivered.text
        ids.append(delivered.json()["event_id"])
    assert signed_push(stack, "delivery-0", "refs/heads/f0").status_code == 200, "redelivery"
    with web_client(stack) as client:
        runs = wait_for_runs(client, "webhook_deploy", 3)
        assert len(runs) == 3
        consumed = []
        for run in runs:
            events = client.get(
                "/assets/events", params={"uri": PUSHES, "order_by": "id", "limit": 100}
            ).json()["asset_events"]
            mine = [
                e["id"]
                for e in events
                if run["run_id"] in {r["run_id"] for r in e["created_dagruns"]}
            ]
            assert len(mine) == 1, (run, events)
            consumed += mine
        assert sorted(consumed) == sorted(ids)
        wait_for_runs(client, "webhook_audit", 3)
        assert asset_runs(client, "webhook_digest") == []
        audits = client.get("/assets/events", params={"source": "completion", "limit": 100}).json()[
            "asset_events"
        ]
        assert {e["uri"] for e in audits} == {"airlock://dag/webhook_deploy/success"}
    listed = stack.airlock("assets", "events", "--asset", PUSHES, "--output", "json")
    assert listed.returncode == 0, listed.stderr
    assert {e["source"] for e in json.loads(listed.stdout)["asset_events"]} == {
        "receiver:github_push"
    }


def consumed_by_run(client: httpx.Client, dag_id: str) -> dict[str, list[int]]:
    """Per run of ``dag_id``: the ids of the push events it consumed."""
    events = client.get("/assets/events", params={"uri": PUSHES, "limit": 1000}).json()[
        "asset_events"
    ]
    by_run: dict[str, list[int]] = {}
    for event in events:
        for run in event["created_dagruns"]:
            if run["dag_id"] == dag_id:
                by_run.setdefault(run["run_id"], []).append(event["id"])
    return by_run


@pytest.mark.slow
def test_many_pushes_are_batched_and_run_per_event_exactly(stack: Stack) -> None:  # noqa: F811
    """20 more pushes: ``webhook_digest`` (RunPerBatch(max_events=10, window=1 min)) consumes
    every push in runs of at most 10, none twice; ``webhook_deploy`` (one run per event, at most
    16 active: the rest wait) consumes each push in a run of its own."""
    for n in range(20):
        delivered = signed_push(stack, f"many-{n}", f"refs/heads/m{n}")
        assert delivered.status_code in (200, 201), delivered.text
    with web_client(stack) as client:
        pushed = {
            e["id"]
            for e in client.get("/assets/events", params={"uri": PUSHES, "limit": 1000}).json()[
                "asset_events"
            ]
        }
        assert len(pushed) >= 20
        # Top up to a multiple of 10, so no short batch is left to wait for its 1-minute window
        # (unless a window ran out during earlier tests: then the wait below covers it).
        extra = 0
        while len(pushed) % 10:
            delivered = signed_push(stack, f"top-up-{extra}", f"refs/heads/t{extra}")
            assert delivered.status_code in (200, 201), delivered.text
            pushed.add(delivered.json()["event_id"])
            extra += 1
        deadline = time.monotonic() + 150  # a short batch waits for its 1-minute window
        while True:
            digests = consumed_by_run(client, "webhook_digest")
            deploys = consumed_by_run(client, "webhook_deploy")
            done = {i for ids in digests.values() for i in ids} == pushed and {
                i for ids in deploys.values() for i in ids
            } == pushed
            if done:
                break
            assert time.monotonic() < deadline, (digests, deploys)
            time.sleep(1)
        digest_ids = [i for ids in digests.values() for i in ids]
        assert len(digest_ids) == len(pushed), "no event in two digests"
        assert all(len(ids) <= 10 for ids in digests.values()), digests
        assert sum(len(ids) == 10 for ids in digests.values()) >= 2, digests
        assert all(len(ids) == 1 for ids in deploys.values()), "one deploy per push"
        assert len(deploys) == len(pushed)
