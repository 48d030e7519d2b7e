"""Attacks with a task token over real HTTP against `airlock api`: overwriting a global variable,
and writing XComs and logs with the token of a try that has ended (issue 18, part 5)."""

from __future__ import annotations

import datetime as dt

import pytest

from airlock.core.tokens import TokenKind
from airlock.db import Variable, make_engine, make_session_factory
from airlock.models.execution import LogBatch, TaskSucceeded, WorkloadRequest
from airlock.models.states import TaskInstanceState
from airlock.sdk.api import ApiError, ExecutionClient, RetryPolicy
from tests.support.processes import ApiServer, Home
from tests.test_execution_api import Seeded


def handed_out(api: ApiServer, home: Home) -> tuple[Seeded, ExecutionClient, str]:
    """A queued task handed out (and so started) to a worker: its runner's client and id."""
    seeded = Seeded(home, tasks=1, state=TaskInstanceState.QUEUED)
    worker = ExecutionClient(api.url, home.token(TokenKind.WORKER, "w"))
    (workload,) = worker.next_workloads(
        WorkloadRequest(worker="w", queues=[seeded.dag_id], start=1, hostname="h", pid=1)
    ).workloads
    runner = ExecutionClient(api.url, workload.token, retry=RetryPolicy(attempts=1))
    return seeded, runner, workload.ti.id


def test_a_task_cannot_overwrite_or_delete_a_global_variable(api: ApiServer, home: Home) -> None:
    engine = make_engine(home.db_url)
    with make_session_factory(engine)() as session:
        session.merge(Variable(key="authz_global", value="kept", bundle_name=None))
        session.commit()
    _, runner, _ = handed_out(api, home)
    try:
        for attack in (
            lambda: runner.set_variable("authz_global", "pwned"),
            lambda: runner.delete_variable("authz_global"),
        ):
            with pytest.raises(ApiError) as refused:
                attack()
            assert refused.value.status == 403
            assert "is global" in refused.value.detail
        with make_session_factory(engine)() as session:
            assert session.get_one(Variable, "authz_global").value == "kept"
    finally:
        engine.dispose()


def test_a_tokens_writes_end_with_its_try(api: ApiServer, home: Home) -> None:
    seeded, runner, ti_id = handed_out(api, home)
    runner.push_xcom(ti_id, "result", "genuine")
    runner.send_logs(ti_id, LogBatch(try_number=1, seq=0, lines=["running"]))
    runner.finish(ti_id, TaskSucceeded(end_date=dt.datetime.now(dt.UTC)))
    # The final flush right after the end is still taken.
    runner.send_logs(ti_id, LogBatch(try_number=1, seq=1, lines=["last line"]))
    with pytest.raises(ApiError) as refused:
        runner.push_xcom(ti_id, "result", "forged after the end")
    assert refused.value.status == 409
    assert "is success on try 1" in refused.value.detail
    with pytest.raises(ApiError) as other_try:
        runner.send_logs(ti_id, LogBatch(try_number=2, seq=0, lines=["into a try not started"]))
    assert other_try.value.status == 422
    assert runner.pull_xcom(seeded.dag_id, "run", "t0", "result") == "genuine"
