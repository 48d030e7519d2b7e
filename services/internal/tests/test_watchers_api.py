"""The Internal API's watcher endpoints on the real app and database (SQLite and PostgreSQL),
through the SDK's ``InternalClient``: watchers registered from stored DAG versions, leased to
one triggerer at a time within the token's bundles, events stored once per dedup key
(``stored`` / ``duplicate``), a stale holder's events ``refused``, status recorded by heartbeat
and shown by the Web API's model; every other token kind refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import transport as litestar_transport
from sqlalchemy import select

from airlock.core.tokens import TokenKind
from airlock.db import (
    AssetDagRunQueue,
    AssetEvent,
    AssetWatcher,
    DagRun,
    DagRunAssetEvent,
    TaskInstance,
)
from airlock.internal.app import create_app
from airlock.internal.asset_refs import record_references
from airlock.models.dag import AssetRef, AssetSchedule, SerializedDag, SerializedWatcher
from airlock.models.internal_watchers import WatcherEventIn, WatcherHeartbeat, WatcherStatus
from airlock.sdk.api import InternalClient
from tests.support.apps import ApiEnv, api_settings
from tests.support.dags import install_dag, make_dag, task
from tests.support.problems import problem

ORDERS = AssetRef(name="orders", uri="watched://orders")


def _dag(dag_id: str, kwargs: dict[str, Any] | None = None) -> SerializedDag:
    return make_dag(
        dag_id,
        [task("t")],
        schedule=AssetSchedule(condition=ORDERS),
        watchers=[
            SerializedWatcher(
                name="w",
                asset=ORDERS,
                trigger_classpath="pkg.Stream",
                trigger_kwargs=kwargs or {"stream": "s", "conn_id": "c"},
            )
        ],
    )


class Env(ApiEnv):
    def token(self, role: str = "triggerer", bundles: list[str] | None = None) -> str:
        return self.signer.issue(
            TokenKind.SERVICE, "trig", 600, role=role, bundles=bundles or ["b1"]
        )

    def sdk(self, token: str | None = None) -> InternalClient:
        transport: Any = litestar_transport.TestClientTransport(self.client)
        return InternalClient("http://testserver", token or self.token(), transport=transport)

    def store(self, dag: SerializedDag, bundle: str = "b1") -> None:
        """Store a new version of ``dag`` as the DAG upload does (references and watchers)."""
        with self.session() as session:
            install_dag(session, dag, bundle=bundle, paused=False)
            record_references(session, {dag.dag_id: dag}, dt.datetime.now(dt.UTC))
            session.commit()

    def reregister(self, dag: SerializedDag) -> None:
        """Record ``dag``'s references again, as storing a new version does."""
        with self.session() as session:
            record_references(session, {dag.dag_id: dag}, dt.datetime.now(dt.UTC))
            session.commit()

    def call(self, path: str, token: str, json: Any) -> httpx.Response:
        return self.client.post(
            f"/internal{path}", json=json, headers={"Authorization": f"Bearer {token}"}
        )

    def events(self) -> list[AssetEvent]:
        with self.session() as session:
            return list(session.scalars(select(AssetEvent).order_by(AssetEvent.id)))


@pytest.fixture
def env(db_url: str, tmp_path: Path, migrated_sqlite_file: Path) -> Iterator[Env]:
    settings = api_settings(db_url, tmp_path / "home", migrated_sqlite_file)
    yield from Env.open(db_url, settings, create_app)


def _event(watcher_id: int, epoch: int, key: str, n: int = 0) -> WatcherEventIn:
    return WatcherEventIn(watcher_id=watcher_id, epoch=epoch, dedup_key=key, extra={"n": n})


def test_a_watcher_is_leased_once_and_its_events_stored_once(env: Env) -> None:
    env.store(_dag("d1"))
    client = env.sdk()
    (leased,) = client.lease_watchers("t-1", 10).watchers
    assert (leased.name, leased.classpath, leased.kwargs, leased.asset_uri, leased.bundle) == (
        "w",
        "pkg.Stream",
        {"stream": "s", "conn_id": "c"},
        "watched://orders",
        "b1",
    )
    assert client.lease_watchers("t-2", 10).watchers == []  # one holder at a time
    first = client.store_watcher_events(
        "t-1", [_event(leased.id, leased.epoch, "s:1", 1), _event(leased.id, leased.epoch, "s:2")]
    )
    assert first.results == ["stored", "stored"]
    # A redelivery (the same key again, also twice in one call): no second event.
    again = client.store_watcher_events(
        "t-1",
        [
            _event(leased.id, leased.epoch, "s:1"),
            _event(leased.id, leased.epoch, "s:3"),
            _event(leased.id, leased.epoch, "s:3"),
        ],
    )
    assert again.results == ["duplicate", "stored", "duplicate"]
    events = env.events()
    assert [(e.dedup_key, e.source) for e in events] == [
        ("s:1", "watcher:w"),
        ("s:2", "watcher:w"),
        ("s:3", "watcher:w"),
    ]
    assert events[0].extra == {"n": 1}
    with env.session() as session:
        assert session.scalars(select(AssetDagRunQueue.event_id)).all() == []
        # The consumer's runs were started in the same requests, each event consumed once: one
        # run per event, the default run policy.
        consumed = session.scalars(select(DagRunAssetEvent.event_id)).all()
        assert sorted(consumed) == [e.id for e in events]
        runs = session.scalars(select(DagRun)).all()
        assert len(runs) == 3
        assert {r.run_type for r in runs} == {"asset_triggered"}
        assert session.scalars(select(TaskInstance.state)).all() == ["queued"] * 3
        watcher = session.scalars(select(AssetWatcher)).one()
        assert watcher.events_stored == 3
        assert watcher.last_event_at is not None


def test_a_stale_holder_is_refused_and_told_it_lost_the_watcher(env: Env) -> None:
    env.store(_dag("d1"))
    client = env.sdk()
    (leased,) = client.lease_watchers("t-1", 10).watchers
    stale = client.store_watcher_events("t-1", [_event(leased.id, leased.epoch - 1, "k")])
    other = client.store_watcher_events("t-2", [_event(leased.id, leased.epoch, "k")])
    assert (stale.results, other.results) == (["refused"], ["refused"])
    assert env.events() == []
    reply = client.heartbeat_watchers(
        WatcherHeartbeat(triggerer="t-2", held=[WatcherStatus(id=leased.id, epoch=leased.epoch)])
    )
    assert reply.lost == [leased.id]


def test_heartbeat_records_status_and_a_changed_trigger_is_a_new_watcher(env: Env) -> None:
    env.store(_dag("d1"))
    client = env.sdk()
    (leased,) = client.lease_watchers("t-1", 10).watchers
    status = WatcherStatus(
        id=leased.id,
        epoch=leased.epoch,
        state="reconnecting",
        lag=7,
        last_error="redis://h:1 unreachable",
    )
    assert client.heartbeat_watchers(WatcherHeartbeat(triggerer="t-1", held=[status])).lost == []
    with env.session() as session:
        row = session.scalars(select(AssetWatcher)).one()
        assert (row.state, row.lag, row.last_error) == (
            "reconnecting",
            7,
            "redis://h:1 unreachable",
        )
    env.reregister(_dag("d1"))  # an unchanged new version keeps the row and its lease
    beat = WatcherHeartbeat(triggerer="t-1", held=[WatcherStatus(id=leased.id, epoch=leased.epoch)])
    assert client.heartbeat_watchers(beat).lost == []
    env.store(_dag("d1", {"stream": "other", "conn_id": "c"}))  # changed: the old one is lost
    assert client.heartbeat_watchers(beat).lost == [leased.id]
    (fresh,) = client.lease_watchers("t-2", 10).watchers
    assert fresh.kwargs["stream"] == "other"


def test_released_watchers_go_to_another_triggerer_at_once(env: Env) -> None:
    env.store(_dag("d1"))
    client = env.sdk()
    (leased,) = client.lease_watchers("t-1", 10).watchers
    from airlock.models.internal_watchers import HeldWatcher

    assert client.release_watchers("t-1", [HeldWatcher(id=leased.id, epoch=leased.epoch)]) == 1
    (taken,) = client.lease_watchers("t-2", 10).watchers
    assert taken.epoch == leased.epoch + 1


def test_a_token_reaches_only_its_bundles_watchers(env: Env) -> None:
    env.store(_dag("d1"), bundle="b1")
    env.store(make_dag("d2", [task("t")]), bundle="b2")
    assert env.sdk(env.token(bundles=["b2"])).lease_watchers("t-1", 10).watchers == []
    (leased,) = env.sdk().lease_watchers("t-1", 10).watchers
    # Another bundle's token naming the same holder name holds nothing: refused.
    results = env.sdk(env.token(bundles=["b2"])).store_watcher_events(
        "t-1", [_event(leased.id, leased.epoch, "k")]
    )
    assert results.results == ["refused"]
    assert env.events() == []


@pytest.mark.parametrize("kind", ["dag-processor", "callback-processor", "task", "worker"])
def test_other_tokens_cannot_reach_watcher_endpoints(env: Env, kind: str) -> None:
    if kind in ("task", "worker"):
        token = env.signer.issue(TokenKind(kind), "x", 600, bundle="b1")
    else:
        token = env.token(role=kind)
    for path, body in [
        ("/watchers/lease", {"triggerer": "t", "limit": 1}),
        ("/watchers/heartbeat", {"triggerer": "t"}),
        ("/watchers/events", {"triggerer": "t", "events": []}),
        ("/watchers/release", {"triggerer": "t"}),
    ]:
        answer = env.call(path, token, body)
        assert answer.status_code in (401, 403), (path, answer.text)


def test_bad_input_is_a_clear_4xx(env: Env) -> None:
    token = env.token()
    problem(env.call("/watchers/lease", token, {"triggerer": "t", "limit": -1}), 422, "limit")
    event = {"watcher_id": 1, "epoch": 1, "dedup_key": ""}
    answer = env.call("/watchers/events", token, {"triggerer": "t", "events": [event]})
    problem(answer, 422, "dedup_key")
    long_key = {"watcher_id": 1, "epoch": 1, "dedup_key": "k" * 251}
    answer = env.call("/watchers/events", token, {"triggerer": "t", "events": [long_key]})
    problem(answer, 422, "dedup_key")


def test_one_watcher_runs_per_asset_and_name_whatever_declares_it(env: Env) -> None:
    env.store(_dag("d1"))
    env.store(_dag("d2"))  # another consumer of the same asset declares the same watcher
    client = env.sdk()
    (leased,) = client.lease_watchers("t-1", 10).watchers
    assert leased.dag_id == "d1"
    assert client.lease_watchers("t-2", 10).watchers == []
    # Its events are the asset's: both consumers get them.
    assert client.store_watcher_events("t-1", [_event(leased.id, leased.epoch, "k")]).results == [
        "stored"
    ]
    with env.session() as session:
        consumed = session.scalars(select(DagRun.dag_id).order_by(DagRun.dag_id)).all()
        assert consumed == ["d1", "d2"]
