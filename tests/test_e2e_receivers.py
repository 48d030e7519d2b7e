"""Webhook receivers end to end, as an admin and a sender use them: `airlock receivers
create|list|rotate|delete` and `airlock assets events` against a real `airlock api --apps web`
process, and deliveries over real HTTP — a forged, replayed, stale or oversized one is refused
(401/401/400/413) and makes no event; a valid one makes exactly one, shown with its source."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from airlock.core.tokens import TokenKind
from airlock.db import AssetDagRunQueue
from airlock.db.assets import schedule_assets, set_dag_asset_references
from airlock.db.database import Database
from airlock.models.dag import AssetRef, AssetSchedule
from tests.support.dags import install_dag, make_dag, task
from tests.support.processes import ApiServer, Home, make_home, start_api, stop

pytestmark = pytest.mark.slow  # its fixture starts airlock processes of its own

SECRET = "webhook-secret-never-printed"
ASSET = "github://acme/shop/pushes"


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Home, ApiServer]]:
    path: Path = tmp_path_factory.mktemp("receivers")
    home = make_home(path, f"sqlite:///{path / 'airlock.db'}")
    server = start_api(home, "web")
    home.env["AIRLOCK_CLIENT__API_URL"] = server.url
    home.airlock(
        "users", "create", "ann", "--role", "admin", "--password-stdin", stdin="pw-long-enough\n"
    )
    home.airlock("login", "-u", "ann", "--password-stdin", stdin="pw-long-enough\n")
    yield home, server
    stop(server)


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def stamp_sign(body: bytes, stamp: int, secret: str = SECRET) -> str:
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def events(home: Home, *args: str) -> list[dict[str, Any]]:
    out = home.airlock("assets", "events", "--output", "json", *args).stdout
    found: list[dict[str, Any]] = json.loads(out)["asset_events"]
    return found


def test_declare_deliver_and_list_events(admin: tuple[Home, ApiServer]) -> None:
    home, server = admin
    made = home.airlock(
        "receivers",
        "create",
        "github",
        "--asset",
        ASSET,
        "--dedup-key",
        'headers."x-github-delivery"',
        "--extra",
        "{ref: body.ref}",
        "--max-body-bytes",
        "4096",
        "--secret-stdin",
        stdin=SECRET + "\n",
    )
    assert "/api/v1/receivers/github" in made.stdout
    assert SECRET not in made.stdout
    listed = home.airlock("receivers", "list").stdout
    assert "github" in listed
    assert SECRET not in listed

    body = json.dumps({"ref": "refs/heads/main"}).encode()
    url = f"{server.url}/api/v1/receivers/github"
    with httpx.Client(timeout=10) as client:

        def post(content: bytes, **headers: str) -> httpx.Response:
            return client.post(url, content=content, headers={"X-GitHub-Delivery": "d1", **headers})

        assert post(body, **{"X-Hub-Signature-256": sign(body, "forged-secret")}).status_code == 401
        assert post(body).status_code == 401
        big = json.dumps({"ref": "x" * 5000}).encode()
        assert post(big, **{"X-Hub-Signature-256": sign(big)}).status_code == 413
        assert events(home) == []

        first = post(body, **{"X-Hub-Signature-256": sign(body)})
        assert first.status_code == 201, first.text
        again = post(body, **{"X-Hub-Signature-256": sign(body)})
        assert again.status_code == 200
        assert again.json()["event_id"] == first.json()["event_id"]

    (event,) = events(home, "--asset", ASSET)
    assert (event["source"], event["dedup_key"], event["extra"]) == (
        "receiver:github",
        "d1",
        {"ref": "refs/heads/main"},
    )
    table = home.airlock("assets", "events", "--source", "receiver:").stdout.splitlines()
    assert table[0].split() == ["ID", "TIMESTAMP", "URI", "SOURCE", "DEDUP_KEY", "RUNS"]
    assert "receiver:github" in table[1]

    rotated = home.airlock("receivers", "rotate", "github").stdout
    new_secret = rotated.rsplit(": ", 1)[1].strip()
    assert len(new_secret) >= 32
    body2 = json.dumps({"ref": "refs/heads/dev"}).encode()
    with httpx.Client(timeout=10) as client:
        old = client.post(
            url,
            content=body2,
            headers={"X-GitHub-Delivery": "d2", "X-Hub-Signature-256": sign(body2)},
        )
        assert old.status_code == 401, "the old secret stops at once"
        new = client.post(
            url,
            content=body2,
            headers={"X-GitHub-Delivery": "d2", "X-Hub-Signature-256": sign(body2, new_secret)},
        )
        assert new.status_code == 201
    home.airlock("receivers", "delete", "github")
    assert "github" not in home.airlock("receivers", "list").stdout


def test_timestamped_receiver_refuses_replayed_and_stale(admin: tuple[Home, ApiServer]) -> None:
    home, server = admin
    home.airlock(
        "receivers",
        "create",
        "stripe",
        "--asset",
        "stripe://acme/invoices",
        "--signature",
        "timestamped-hmac-sha256",
        "--header",
        "Stripe-Signature",
        "--dedup-key",
        "body.id",
        "--secret-stdin",
        stdin=SECRET,
    )
    body = json.dumps({"id": "evt_9", "type": "invoice.paid"}).encode()
    url = f"{server.url}/api/v1/receivers/stripe"
    now = int(time.time())
    with httpx.Client(timeout=10) as client:
        fresh = {"Stripe-Signature": stamp_sign(body, now)}
        assert client.post(url, content=body, headers=fresh).status_code == 201
        replayed = client.post(url, content=body, headers=fresh)
        assert replayed.status_code == 401
        assert "replay" in replayed.json()["detail"]
        stale = client.post(
            url, content=body, headers={"Stripe-Signature": stamp_sign(body, now - 600)}
        )
        assert stale.status_code == 400
    assert len(events(home, "--asset", "stripe://acme/invoices")) == 1


def test_receivers_need_an_admin(admin: tuple[Home, ApiServer]) -> None:
    home, server = admin
    home.airlock(
        "users", "create", "vic", "--role", "op", "--password-stdin", stdin="pw-long-enough\n"
    )
    token = httpx.post(
        f"{server.url}/api/v1/auth/token", json={"username": "vic", "password": "pw-long-enough"}
    ).json()["access_token"]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as op:
        assert op.get("/api/v1/receivers").status_code == 403
        made = op.post("/api/v1/receivers", json={"name": "x", "asset_uri": "a://b"})
        assert made.status_code == 403


def test_unpause_skips_or_runs_the_backlog_from_the_cli(admin: tuple[Home, ApiServer]) -> None:
    """`airlock dags unpause ID --skip-backlog` drops the events that waited through the pause;
    a plain unpause keeps them for the DAG's runs."""
    home, server = admin
    orders = AssetRef(name="orders", uri="s3://cli/orders")
    db = Database(home.db_url)
    try:
        with db.sessions() as session:
            for dag_id in ("skipper", "runner"):
                dag = make_dag(dag_id, [task("t")], schedule=AssetSchedule(condition=orders))
                install_dag(session, dag, bundle="b", paused=True)
                set_dag_asset_references(
                    session, {dag_id: (schedule_assets(dag.schedule), {})}, dt.datetime.now(dt.UTC)
                )
            session.commit()
        token = home.token(TokenKind.USER, "ann", roles=["admin"])
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
            for key in ("a", "b"):
                pushed = c.post("/api/v1/assets/events", json={"uri": orders.uri, "dedup_key": key})
                assert pushed.status_code == 201, pushed.text

        def waiting(dag_id: str) -> int:
            with db.sessions() as session:
                return len(
                    session.scalars(
                        select(AssetDagRunQueue.event_id).where(
                            AssetDagRunQueue.target_dag_id == dag_id
                        )
                    ).all()
                )

        assert (waiting("skipper"), waiting("runner")) == (2, 2)
        assert (
            "skipper is unpaused"
            in home.airlock("dags", "unpause", "skipper", "--skip-backlog").stdout
        )
        home.airlock("dags", "unpause", "runner")
        assert waiting("skipper") == 0
        assert waiting("runner") == 2, "no scheduler here: the backlog waits for its runs"
        both = home.airlock("dags", "unpause", "x", "--skip-backlog", "--run-backlog", check=False)
        assert both.returncode == 2
    finally:
        db.close()
