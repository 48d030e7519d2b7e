"""The Internal API's trigger endpoints on the real app and database (SQLite and PostgreSQL),
through the SDK's own ``InternalClient``: leases scoped to the token's bundles, fencing by epoch,
one resume per trigger, and every other token kind refused. The server stores a trigger's
classpath and kwargs as data: it never imports them."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import transport as litestar_transport

from airlock.core.tokens import TokenKind
from airlock.db import ComponentHeartbeat, TaskInstance
from airlock.internal.app import create_app
from airlock.models.execution import TaskDeferred
from airlock.models.internal_triggers import (
    HeldTrigger,
    TriggerEventItem,
    TriggerEventPost,
    TriggerHeartbeat,
)
from airlock.models.states import DagRunType
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling import DagCache, create_dag_run, finish_task, schedule_run
from airlock.scheduling.starting import start_task
from airlock.sdk.api import InternalClient
from tests.support.apps import ApiEnv, api_settings
from tests.support.dags import install_dag, make_dag, task
from tests.support.problems import problem


class Env(ApiEnv):
    def token(self, role: str = "triggerer", bundles: list[str] | None = None) -> str:
        return self.signer.issue(
            TokenKind.SERVICE, "trig", 600, role=role, bundles=bundles or ["b1"]
        )

    def sdk(self, token: str | None = None) -> InternalClient:
        """The SDK's client against this app, in-process."""
        transport: Any = litestar_transport.TestClientTransport(self.client)
        return InternalClient("http://testserver", token or self.token(), transport=transport)

    def defer(self, dag_id: str, bundle: str, classpath: str = "pkg.Waiter") -> str:
        """A task of a new DAG of ``bundle`` that deferred; its task instance id."""
        cache = DagCache()
        now = dt.datetime.now(dt.UTC)
        with self.session() as session:
            install_dag(session, make_dag(dag_id, [task("t")]), bundle=bundle)
            run = create_dag_run(session, dag_id, run_type=DagRunType.MANUAL, dag_cache=cache)
            schedule_run(session, run, cache, now)
            session.commit()
            ti = session.query(TaskInstance).filter_by(dag_id=dag_id).one()
            start_task(session.connection(), ti.id, "host", 1, now, now)
            outcome = TaskDeferred(trigger_classpath=classpath, trigger_kwargs={"secret_ref": "x"})
            assert finish_task(session, ti.id, outcome, cache, now) is TIS.DEFERRED
            session.commit()
            return ti.id

    def state(self, ti_id: str) -> TIS | None:
        with self.session() as session:
            ti = session.get(TaskInstance, ti_id)
            assert ti is not None
            return ti.state

    def call(self, path: str, token: str, json: Any) -> httpx.Response:
        return self.client.post(
            f"/internal{path}", json=json, headers={"Authorization": f"Bearer {token}"}
        )


@pytest.fixture
def env(db_url: str, tmp_path: Path, migrated_sqlite_file: Path) -> Iterator[Env]:
    settings = api_settings(db_url, tmp_path / "home", migrated_sqlite_file)
    yield from Env.open(db_url, settings, create_app)


def test_a_triggerer_leases_fires_and_the_task_resumes_once(env: Env) -> None:
    ti_id = env.defer("d1", "b1")
    client = env.sdk()
    batch = client.lease_triggers("t-1", 10)
    (leased,) = batch.triggers
    assert (leased.classpath, leased.kwargs, leased.bundle, leased.ti_id) == (
        "pkg.Waiter",
        {"secret_ref": "x"},
        "b1",
        ti_id,
    )
    assert batch.lease_s == env.settings.internal.trigger_lease_s
    event = TriggerEventPost(triggerer="t-1", epoch=leased.epoch, payload={"done": True})
    fired = client.post_trigger_event(leased.id, event)
    assert fired is not None
    assert fired.ti_id == ti_id
    assert client.post_trigger_event(leased.id, event) == fired  # a retry answers the same
    assert env.state(ti_id) is TIS.SCHEDULED
    with env.session() as session:
        ti = session.get(TaskInstance, ti_id)
        assert ti is not None
        assert ti.next_kwargs == {"event": {"done": True}}


def test_a_holder_whose_lease_moved_on_gets_409_and_no_resume(env: Env) -> None:
    ti_id = env.defer("d1", "b1")
    client = env.sdk()
    (leased,) = client.lease_triggers("t-1", 10).triggers
    stale = TriggerEventPost(triggerer="t-1", epoch=leased.epoch - 1, payload=None)
    answer = env.call(f"/triggers/{leased.id}/event", env.token(), stale_json(stale))
    problem(answer, 409, "no longer leased")
    other = TriggerEventPost(triggerer="t-2", epoch=leased.epoch, payload=None)
    assert env.sdk().post_trigger_event(leased.id, other) is None  # dropped quietly
    assert env.state(ti_id) is TIS.DEFERRED


def stale_json(event: TriggerEventPost) -> dict[str, Any]:
    return {"triggerer": event.triggerer, "epoch": event.epoch, "payload": event.payload}


def test_a_token_reaches_only_its_bundles_triggers(env: Env) -> None:
    env.defer("d1", "b1")
    env.defer("d2", "b2")
    mine = env.sdk(env.token(bundles=["b2"])).lease_triggers("t-1", 10).triggers
    assert [t.dag_id for t in mine] == ["d2"]
    (theirs,) = env.sdk().lease_triggers("t-9", 10).triggers
    answer = env.call(
        f"/triggers/{theirs.id}/event",
        env.token(bundles=["b2"]),
        {"triggerer": "t-9", "epoch": theirs.epoch},
    )
    problem(answer, 403, "belongs to bundle 'b1'")


@pytest.mark.parametrize("kind", ["dag-processor", "callback-processor", "task", "worker"])
def test_other_tokens_cannot_reach_trigger_endpoints(env: Env, kind: str) -> None:
    if kind in ("task", "worker"):
        token = env.signer.issue(TokenKind(kind), "x", 600, bundle="b1")
    else:
        token = env.token(role=kind)
    for path, body in [
        ("/triggers/lease", {"triggerer": "t", "limit": 1}),
        ("/triggers/heartbeat", {"triggerer": "t"}),
        ("/triggers/1/event", {"triggerer": "t", "epoch": 1}),
        ("/triggers/1/failure", {"triggerer": "t", "epoch": 1, "error": "x"}),
    ]:
        answer = env.call(path, token, body)
        assert answer.status_code in (401, 403), (path, answer.text)
        if kind not in ("task", "worker"):  # another audience: not even authenticated here
            problem(answer, 403, "may not call this endpoint")


def test_bad_input_is_a_clear_4xx(env: Env) -> None:
    token = env.token()
    problem(env.call("/triggers/lease", token, {"triggerer": "t", "limit": -1}), 422, "limit")
    problem(env.call("/triggers/lease", token, {"triggerer": "", "limit": 1}), 422, "triggerer")
    problem(env.call("/triggers/7/event", token, {"triggerer": "t", "epoch": 1}), 404, "trigger 7")


def test_the_api_never_imports_a_trigger_classpath(env: Env, tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "trigger_bomb.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    sys.path.insert(0, str(tmp_path))
    try:
        env.defer("d1", "b1", classpath="trigger_bomb.Boom")
        client = env.sdk()
        (leased,) = client.lease_triggers("t-1", 10).triggers
        client.heartbeat_triggers(
            TriggerHeartbeat(triggerer="t-1", held=[HeldTrigger(id=leased.id, epoch=leased.epoch)])
        )
        client.post_trigger_event(
            leased.id, TriggerEventPost(triggerer="t-1", epoch=leased.epoch, payload=None)
        )
    finally:
        sys.path.remove(str(tmp_path))
    assert leased.classpath == "trigger_bomb.Boom"
    assert not marker.exists()
    assert "trigger_bomb" not in sys.modules


def test_heartbeats_show_the_triggerer_and_a_cleared_task_cancels(env: Env) -> None:
    ti_id = env.defer("d1", "b1")
    client = env.sdk()
    (leased,) = client.lease_triggers("t-1", 10).triggers
    held = [HeldTrigger(id=leased.id, epoch=leased.epoch)]
    beat = TriggerHeartbeat(triggerer="t-1", held=held, capacity=50, blocked_loops=2)
    assert client.heartbeat_triggers(beat).cancelled == []
    with env.session() as session:
        row = session.get(ComponentHeartbeat, ("triggerer", "trig/t-1"))
        assert row is not None
        assert row.info["capacity"] == 50
        assert row.info["load"] == 1
        ti = session.get(TaskInstance, ti_id)
        assert ti is not None
        ti.state = TIS.FAILED  # marked failed while it waited
        session.commit()
    assert client.heartbeat_triggers(beat).cancelled == [leased.id]


def test_an_old_client_does_not_see_the_trigger_endpoints(env: Env) -> None:
    answer = env.client.post(
        "/internal/triggers/lease",
        json={"triggerer": "t", "limit": 1},
        headers={"Authorization": f"Bearer {env.token()}", "Airlock-API-Version": "2026-11-01"},
    )
    assert answer.status_code == 404, answer.text


def test_a_batch_of_events_resumes_each_task_once_and_refuses_the_rest(env: Env) -> None:
    mine = [env.defer(f"d{i}", "b1") for i in range(3)]
    env.defer("other", "b2")
    client = env.sdk()
    leased = {t.ti_id: t for t in client.lease_triggers("t-1", 10).triggers}
    (theirs,) = env.sdk(env.token(bundles=["b2"])).lease_triggers("t-1", 10).triggers
    items = [TriggerEventItem(id=leased[ti].id, epoch=leased[ti].epoch, payload=ti) for ti in mine]
    stale = TriggerEventItem(id=leased[mine[0]].id, epoch=leased[mine[0]].epoch + 5)
    foreign = TriggerEventItem(id=theirs.id, epoch=theirs.epoch)
    results = client.post_trigger_events("t-1", [*items, stale, foreign])
    assert sorted(results.accepted) == sorted(leased[ti].id for ti in mine)
    assert results.refused == [stale.id, foreign.id]
    assert {env.state(ti) for ti in mine} == {TIS.SCHEDULED}
    assert env.state(theirs.ti_id) is TIS.DEFERRED
    again = client.post_trigger_events("t-1", items)  # a retried call answers the same
    assert sorted(again.accepted) == sorted(results.accepted)
