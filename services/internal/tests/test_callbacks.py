"""The Internal API's callback endpoints, in-process on SQLite and PostgreSQL: only a
``callback-processor`` token reaches them, it leases only its bundles' callbacks, a report about
another bundle's callback changes nothing, and bad input is a 4xx naming the problem."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from airlock.core.tokens import TokenKind
from airlock.db import CallbackRequest
from airlock.internal.app import create_app
from tests.support.apps import ApiEnv, api_settings
from tests.support.problems import problem


@pytest.fixture
def env(db_url: str, tmp_path: Path, migrated_sqlite_file: Path) -> Iterator[ApiEnv]:
    settings = api_settings(db_url, tmp_path / "home", migrated_sqlite_file)
    yield from ApiEnv.open(db_url, settings, create_app)


def headers(env: ApiEnv, role: str = "callback-processor", bundles: Any = ("a",)) -> dict[str, str]:
    token = env.signer.issue(TokenKind.SERVICE, "cbp", 60, role=role, bundles=list(bundles))
    return {"Authorization": f"Bearer {token}"}


def add(env: ApiEnv, *bundles: str) -> list[int]:
    with env.session() as session:
        session.execute(
            insert(CallbackRequest),
            [
                {
                    "kind": "dag_failure",
                    "bundle_name": b,
                    "dag_id": f"d_{b}",
                    "run_id": "r",
                    "created_at": dt.datetime.now(dt.UTC),
                }
                for b in bundles
            ],
        )
        session.commit()
        return list(session.scalars(select(CallbackRequest.id).order_by(CallbackRequest.id)))


def test_a_processor_leases_and_reports_only_its_bundles(env: ApiEnv) -> None:
    mine, theirs = add(env, "a", "b")
    leased = env.client.post(
        "/internal/callbacks/lease", json={"holder": "p1", "limit": 10}, headers=headers(env)
    )
    assert leased.status_code == 200, leased.text
    (callback,) = leased.json()["callbacks"]
    assert (callback["id"], callback["attempt"], callback["bundle"]) == (mine, 1, "a")
    assert callback["idempotency_key"] == f"airlock-callback-{mine}"
    # A report about another bundle's callback (even with a guessed epoch) changes nothing.
    report = env.client.post(
        "/internal/callbacks/report",
        json={"holder": "p1", "outcomes": [{"id": theirs, "epoch": 1}, {"id": mine, "epoch": 1}]},
        headers=headers(env),
    )
    assert report.json() == {"recorded": [mine], "fenced": [theirs], "dead_lettered": []}
    with env.session() as session:
        assert session.get_one(CallbackRequest, theirs).state == "queued"
        assert session.get_one(CallbackRequest, mine).state == "success"


@pytest.mark.parametrize("role", ["dag-processor", "triggerer"])
def test_other_service_roles_are_refused(env: ApiEnv, role: str) -> None:
    answer = env.client.post(
        "/internal/callbacks/lease", json={"holder": "p"}, headers=headers(env, role)
    )
    problem(answer, 403, "callback-processor")


def test_a_callback_processor_cannot_upload_dags(env: ApiEnv) -> None:
    answer = env.client.put("/internal/bundles/a/dags", json={}, headers=headers(env))
    problem(answer, 403)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"holder": "", "limit": 1}, "holder"),
        ({"holder": "p", "limit": 0}, "limit"),
        ({"holder": "p", "lease_s": 0.1}, "lease_s"),
    ],
)
def test_bad_lease_requests_are_422(env: ApiEnv, body: dict[str, Any], says: str) -> None:
    answer = env.client.post("/internal/callbacks/lease", json=body, headers=headers(env))
    problem(answer, 422, says)


def test_an_old_client_does_not_see_the_endpoints(env: ApiEnv) -> None:
    answer = env.client.post(
        "/internal/callbacks/lease",
        json={"holder": "p"},
        headers={**headers(env), "Airlock-API-Version": "2026-11-01"},
    )
    assert answer.status_code == 404
