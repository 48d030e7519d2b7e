"""Event receivers over the Web API: admins declare, rotate and delete them (secrets never
answered, team scope, every other role and token kind refused); deliveries signed three ways
(HMAC over the body, timestamped HMAC with a replay window, bearer) make exactly one event each,
and a forged, replayed, stale, oversized or unmappable one makes none. Also the Idempotency-Key
header of ``POST /assets/events`` and the reserved ``airlock://`` assets."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from airlock.core.tokens import ServiceRole, TokenKind
from airlock.db import AssetEvent, DagRun, EventReceiver, ReceiverDelivery
from airlock.models.dag import AssetRef, AssetSchedule
from airlock.scheduling import DagCache, create_asset_triggered_runs
from airlock.web.receivers import DeliveryLimiter

from .test_assets import CALLER_TRACEPARENT, add_asset_dag

PUSHES = AssetRef(name="pushes", uri="github://acme/shop/pushes")
SECRET = "s3cret-shared-with-the-sender"


def events(web: Any) -> int:
    with web.session() as session:
        return session.scalar(select(func.count()).select_from(AssetEvent)) or 0


def create(web: Any, token: str | None = None, **fields: Any) -> Any:
    body = {
        "name": "github",
        "asset_uri": PUSHES.uri,
        "secret": SECRET,
        "dedup_key": 'headers."x-github-delivery"',
        "extra": "{ref: body.ref, commits: length(body.commits)}",
        **fields,
    }
    return web.call("POST", "/receivers", token or web.token("admin"), json=body)


def hub_signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def stripe_signature(body: bytes, stamp: int, secret: str = SECRET) -> str:
    signed = f"{stamp}.".encode() + body
    return f"t={stamp},v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


PUSH = json.dumps({"ref": "refs/heads/main", "commits": [{"id": "a"}, {"id": "b"}]}).encode()


def deliver(web: Any, name: str, body: bytes, headers: dict[str, str]) -> Any:
    return web.client.post(f"/api/v1/receivers/{name}", content=body, headers=headers)


def test_admin_declares_lists_rotates_and_deletes(web: Any, expect_problem: Any) -> None:
    admin = web.token("admin", sub="ann")
    made = create(web, admin)
    assert made.status_code == 201, made.text
    view = made.json()
    assert SECRET not in made.text
    assert view["generated_secret"] is None
    assert (view["signature"], view["signature_header"], view["signature_prefix"]) == (
        "hmac-sha256",
        "X-Hub-Signature-256",
        "sha256=",
    )
    assert (view["path"], view["created_by"]) == ("/api/v1/receivers/github", "ann")
    with web.session() as session:
        stored = session.get_one(EventReceiver, "github").secret_encrypted
    assert SECRET.encode() not in stored, "the secret is stored encrypted"
    expect_problem(create(web, admin), 409, "exists")

    generated = create(web, admin, name="stripe", signature="timestamped-hmac-sha256", secret=None)
    secret = generated.json()["generated_secret"]
    assert len(secret) >= 32
    listed = web.call("GET", "/receivers", admin).json()
    assert [r["name"] for r in listed["receivers"]] == ["github", "stripe"]
    assert secret not in json.dumps(listed)
    assert SECRET not in json.dumps(listed)
    assert web.call("GET", "/receivers/stripe", admin).json()["generated_secret"] is None

    rotated = web.call("PATCH", "/receivers/github", admin, json={"generate_secret": True})
    new_secret = rotated.json()["generated_secret"]
    assert new_secret
    assert new_secret != SECRET
    headers = {"X-Hub-Signature-256": hub_signature(PUSH), "X-GitHub-Delivery": "d-1"}
    expect_problem(deliver(web, "github", PUSH, headers), 401, "does not match")
    headers["X-Hub-Signature-256"] = hub_signature(PUSH, new_secret)
    assert deliver(web, "github", PUSH, headers).status_code == 201

    assert web.call("DELETE", "/receivers/github", admin).status_code == 204
    expect_problem(web.call("GET", "/receivers/github", admin), 404, "not found")
    expect_problem(deliver(web, "github", PUSH, headers), 404, "not found")


def test_bad_declarations(web: Any, expect_problem: Any) -> None:
    expect_problem(create(web, dedup_key="headers.["), 422, "not a JMESPath expression")
    expect_problem(create(web, asset_uri="airlock://dag/etl/success"), 422, "reserved")
    expect_problem(create(web, name="has space"), 422)
    expect_problem(create(web, secret="short"), 422)
    expect_problem(create(web, signature="md5"), 422)
    expect_problem(create(web, max_body_bytes=10**9), 422)
    create(web)
    expect_problem(
        web.call(
            "PATCH",
            "/receivers/github",
            web.token("admin"),
            json={"secret": SECRET + "x", "generate_secret": True},
        ),
        422,
        "not both",
    )


def test_only_admins_of_the_right_team_manage_receivers(web: Any, expect_problem: Any) -> None:
    create(web, bundle_name="team-a")
    for role in ("viewer", "op"):
        token = web.token(role)
        expect_problem(web.call("GET", "/receivers", token), 403)
        expect_problem(create(web, token, name="x"), 403)
        expect_problem(web.call("DELETE", "/receivers/github", token), 403)
    expect_problem(web.call("GET", "/receivers", None), 401)
    worker = web.signer.issue(TokenKind.WORKER, "w1", 60)
    service = web.signer.issue(
        TokenKind.SERVICE, "tr", 60, role=ServiceRole.TRIGGERER, bundles=["team-a"]
    )
    for token in (worker, service):
        response = web.call("GET", "/receivers", token)
        assert response.status_code in (401, 403), response.text
    team_b = web.token("admin", bundles=["team-b"])
    expect_problem(web.call("GET", "/receivers/github", team_b), 404)
    assert web.call("GET", "/receivers", team_b).json()["receivers"] == []
    expect_problem(create(web, team_b, name="global"), 403, "bundles")
    assert create(web, team_b, name="b-hook", bundle_name="team-b").status_code == 201
    team_a = web.token("admin", bundles=["team-a"])
    patched = web.call("PATCH", "/receivers/github", team_a, json={"description": "pushes"})
    assert patched.json()["description"] == "pushes"


def test_hmac_delivery_makes_one_event_and_its_consumer_runs(web: Any, expect_problem: Any) -> None:
    add_asset_dag(web, "on_push", "team-a", schedule=AssetSchedule(condition=PUSHES))
    create(web)
    headers = {
        "X-Hub-Signature-256": hub_signature(PUSH),
        "X-GitHub-Delivery": "d-1",
        "traceparent": CALLER_TRACEPARENT,
    }
    first = deliver(web, "github", PUSH, headers)
    assert first.status_code == 201, first.text
    made = first.json()
    assert (made["created"], made["dedup_key"], made["extra"]) == (
        True,
        "d-1",
        {"ref": "refs/heads/main", "commits": 2},
    )
    again = deliver(web, "github", PUSH, headers)  # the sender redelivers
    assert again.status_code == 200
    assert again.json()["event_id"] == made["event_id"]
    assert events(web) == 1

    with web.session() as session:  # the delivery started the run itself, in the sender's trace
        assert create_asset_triggered_runs(session, DagCache(), dt.datetime.now(dt.UTC)) == []
        assert session.execute(select(DagRun.dag_id, DagRun.trace_parent)).tuples().all() == [
            ("on_push", CALLER_TRACEPARENT)
        ]
    viewer = web.token("viewer")
    listed = web.call("GET", "/assets/events", viewer, params={"source": "receiver:"}).json()
    (event,) = listed["asset_events"]
    assert event["source"] == "receiver:github"
    assert [r["dag_id"] for r in event["created_dagruns"]] == ["on_push"]
    by_uri = web.call("GET", "/assets/events", viewer, params={"uri": PUSHES.uri}).json()
    assert by_uri["total_entries"] == 1
    assert (
        web.call("GET", "/assets/events", viewer, params={"source": "task"}).json()["total_entries"]
        == 0
    )


def test_forged_unsigned_oversized_and_unmappable_deliveries_make_no_event(
    web: Any, expect_problem: Any
) -> None:
    create(web, max_body_bytes=1000)
    ok = {"X-GitHub-Delivery": "d-1"}
    expect_problem(deliver(web, "github", PUSH, ok), 401, "header is missing")
    forged = {**ok, "X-Hub-Signature-256": hub_signature(PUSH, "not-the-secret-at-all")}
    expect_problem(deliver(web, "github", PUSH, forged), 401, "does not match")
    tampered = {**ok, "X-Hub-Signature-256": hub_signature(PUSH)}
    expect_problem(deliver(web, "github", PUSH + b" ", tampered), 401, "does not match")
    no_prefix = {**ok, "X-Hub-Signature-256": hub_signature(PUSH)[7:]}
    expect_problem(deliver(web, "github", PUSH, no_prefix), 401, "start with")
    big = json.dumps({"ref": "x" * 2000}).encode()
    expect_problem(
        deliver(web, "github", big, {**ok, "X-Hub-Signature-256": hub_signature(big)}),
        413,
        "at most 1000 bytes",
    )
    huge = b"x" * 2_000_000  # past the API's own limit too
    assert deliver(web, "github", huge, {"X-Hub-Signature-256": "sha256=0"}).status_code == 413
    not_json = b"ref=main"
    expect_problem(
        deliver(web, "github", not_json, {**ok, "X-Hub-Signature-256": hub_signature(not_json)}),
        400,
        "not JSON",
    )
    expect_problem(
        deliver(web, "github", PUSH, {"X-Hub-Signature-256": hub_signature(PUSH)}),
        422,
        "found nothing",
    )
    assert events(web) == 0


def test_timestamped_signature_refuses_replays_and_stale_deliveries(
    web: Any, expect_problem: Any
) -> None:
    create(
        web,
        name="stripe",
        signature="timestamped-hmac-sha256",
        signature_header="Stripe-Signature",
        tolerance_s=300,
        dedup_key="body.id",
        extra=None,
    )
    body = json.dumps({"id": "evt_1", "type": "invoice.paid"}).encode()
    now = int(time.time())
    fresh = {"Stripe-Signature": stripe_signature(body, now)}
    assert deliver(web, "stripe", body, fresh).status_code == 201
    expect_problem(deliver(web, "stripe", body, fresh), 401, "replay")
    stale = {"Stripe-Signature": stripe_signature(body, now - 400)}
    expect_problem(deliver(web, "stripe", body, stale), 400, "replay window")
    future = {"Stripe-Signature": stripe_signature(body, now + 400)}
    expect_problem(deliver(web, "stripe", body, future), 400, "replay window")
    # a stale timestamp re-signed with the wrong secret is forged, whatever its age
    wrong = {"Stripe-Signature": stripe_signature(body, now - 400, "x" * 20)}
    expect_problem(deliver(web, "stripe", body, wrong), 401, "does not match")
    moved = {"Stripe-Signature": fresh["Stripe-Signature"].replace(f"t={now}", f"t={now + 1}")}
    expect_problem(deliver(web, "stripe", body, moved), 401, "does not match")
    expect_problem(deliver(web, "stripe", body, {"Stripe-Signature": "v1=abc"}), 401, "t=")
    # the sender retries with a fresh signature: the dedup key answers the first event
    retry = deliver(web, "stripe", body, {"Stripe-Signature": stripe_signature(body, now + 1)})
    assert (retry.status_code, retry.json()["created"]) == (200, False)
    assert events(web) == 1
    with web.session() as session:
        assert session.scalar(select(func.count()).select_from(ReceiverDelivery)) == 2


def test_bearer_token_and_filter(web: Any, expect_problem: Any) -> None:
    create(
        web,
        name="alerts",
        signature="bearer",
        dedup_key=None,
        extra="{severity: body.severity}",
        filter="body.severity == 'critical'",
    )
    body = json.dumps({"severity": "critical"}).encode()
    expect_problem(
        deliver(web, "alerts", body, {"Authorization": "Bearer " + SECRET[:-1] + "X"}),
        401,
        "token",
    )
    expect_problem(deliver(web, "alerts", body, {"Authorization": "Basic x"}), 401, "Bearer")
    made = deliver(web, "alerts", body, {"Authorization": f"Bearer {SECRET}"})
    assert made.status_code == 201
    assert made.json()["extra"] == {"severity": "critical"}
    quiet = deliver(web, "alerts", b'{"severity": "info"}', {"Authorization": f"Bearer {SECRET}"})
    assert quiet.status_code == 202
    assert quiet.json()["ignored"] is True
    assert events(web) == 1


def test_delivery_limiter_bounds_each_receiver() -> None:
    limiter = DeliveryLimiter(rate_per_s=1.0, burst=3)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0.0, "one receiver's flood does not block another"


def test_idempotency_key_header(web: Any, expect_problem: Any) -> None:
    add_asset_dag(web, "on_push", "team-a", schedule=AssetSchedule(condition=PUSHES))
    op = web.token("op")
    body = {"uri": PUSHES.uri, "extra": {"n": 1}}
    first = web.call("POST", "/assets/events", op, json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.text
    assert first.json()["dedup_key"] == "k-1"
    again = web.call("POST", "/assets/events", op, json=body, headers={"Idempotency-Key": "k-1"})
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    assert events(web) == 1
    expect_problem(
        web.call(
            "POST",
            "/assets/events",
            op,
            json={**body, "dedup_key": "other"},
            headers={"Idempotency-Key": "k-1"},
        ),
        422,
        "differ",
    )
    expect_problem(
        web.call("POST", "/assets/events", op, json=body, headers={"Idempotency-Key": "k" * 251}),
        400,
        "Idempotency-Key",
    )
    other = web.call("POST", "/assets/events", op, json=body, headers={"Idempotency-Key": "k-2"})
    assert other.status_code == 201
    assert events(web) == 2


@pytest.mark.parametrize("state", ["success", "failed"])
def test_completion_assets_take_no_pushed_events(web: Any, expect_problem: Any, state: str) -> None:
    done = AssetRef(name="etl done", uri=f"airlock://dag/etl/{state}")
    add_asset_dag(web, "after_etl", "team-a", schedule=AssetSchedule(condition=done))
    expect_problem(
        web.call("POST", "/assets/events", web.token("op"), json={"uri": done.uri}),
        422,
        "only Airlock",
    )
    assert events(web) == 0
