"""The task runner: how one try is loaded, executed and turned into an outcome.

Run in-process with the SDK's in-memory comms, as the supervisor's channel would answer them; the
channel itself is exercised by ``serve`` over a real socket pair at the end.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airlock.models.execution import (
    AssetEventOut,
    TaskFailed,
    TaskRescheduled,
    TaskSkipped,
    TaskSucceeded,
)
from airlock.sdk.execution_time import dag_files, task_runner
from airlock.sdk.execution_time.protocol import (
    Abort,
    Ack,
    ErrorReply,
    GetVariable,
    Hello,
    PushXCom,
    RunTask,
    TaskDone,
    TriggerRun,
    VariableReply,
    encode_frame,
    from_task_decoder,
    read_frame,
)
from airlock.sdk.execution_time.supervisor_comms import TaskChannel
from airlock.sdk.testing import InMemoryComms, use_comms

CASES = """
from datetime import timedelta
from airlock.sdk import (
    Asset, AssetAlias, BaseSensorOperator, BashOperator, Variable, dag, task,
)
from airlock.sdk.exceptions import AirflowFailException, AirflowSkipException

REPORT = Asset(name="report", uri="s3://bucket/report")
ALIAS = AssetAlias("daily")


class NeverReady(BaseSensorOperator):
    def poke(self, context):
        return False


@dag(schedule=None, params={"who": "world"})
def cases():
    @task
    def plain(x=1):
        return {"x": x, "who": Variable.get("who", default="nobody")}

    @task(multiple_outputs=True)
    def several():
        return {"a": 1, "b": [2, 3]}

    @task
    def nothing():
        print("side effects only")

    @task.branch
    def choose():
        return "left"

    @task
    def left():
        pass

    @task
    def right():
        pass

    @task.short_circuit
    def gate():
        return False

    @task
    def after_gate():
        pass

    @task
    def skip_me():
        raise AirflowSkipException("not today")

    @task
    def fail_for_good():
        raise AirflowFailException("broken input")

    @task
    def boom():
        raise ValueError("kaboom")

    @task
    def leave():
        import sys
        sys.exit(3)

    @task
    def not_json():
        return object()

    @task(outlets=[REPORT, ALIAS])
    def produce(*, outlet_events):
        outlet_events[REPORT].extra["rows"] = 3
        outlet_events[ALIAS].add(Asset(name="daily_1", uri="s3://bucket/daily/1"), extra={"day": 1})

    @task
    def add(x, y):
        return x + y

    @task
    def numbers():
        return [1, 2, 3]

    wait = NeverReady(task_id="wait", mode="reschedule", poke_interval=30, timeout=3600)
    templated = BashOperator(task_id="templated", bash_command="echo {{ params.who }} {{ ds }}")

    choose() >> [left(), right()]
    gate() >> after_gate()
    plain(), several(), nothing(), skip_me(), fail_for_good(), boom(), leave(), not_json()
    produce()
    add.partial(y=10).expand(x=numbers())


cases()
"""


@pytest.fixture
def cases(write_dag: Callable[[str, str], Path]) -> Path:
    return write_dag("cases.py", CASES)


def run(make_start: Any, make_context: Any, task_id: str, comms: InMemoryComms, **opts: Any):
    start = make_start("cases.py", "cases", task_id, **opts)
    path = str(Path(start.bundle_root) / start.relative_fileloc)
    dag = dag_files.load_dag(path, start.bundle_root, "cases", task_id)
    with use_comms(comms):
        return task_runner.execute_task(dag.task_dict[task_id], start, make_context(start))


@pytest.fixture
def outcome_of(cases: Path, make_start: Any, make_context: Any) -> Callable[..., Any]:
    def outcome(task_id: str, comms: InMemoryComms | None = None, **opts: Any) -> Any:
        return run(make_start, make_context, task_id, comms or InMemoryComms(), **opts)

    return outcome


def test_success_pushes_the_return_value(outcome_of: Callable[..., Any]) -> None:
    comms = InMemoryComms(variables={"who": "ada"})
    outcome = outcome_of("plain", comms)
    assert isinstance(outcome, TaskSucceeded)
    assert outcome.skip_task_ids == []
    assert comms.xcoms_of("plain") == {"return_value": {"x": 1, "who": "ada"}}


def test_multiple_outputs_push_each_key(outcome_of: Callable[..., Any]) -> None:
    comms = InMemoryComms()
    assert isinstance(outcome_of("several", comms), TaskSucceeded)
    assert comms.xcoms_of("several") == {"a": 1, "b": [2, 3], "return_value": {"a": 1, "b": [2, 3]}}


def test_none_pushes_nothing(outcome_of: Callable[..., Any]) -> None:
    comms = InMemoryComms()
    assert isinstance(outcome_of("nothing", comms), TaskSucceeded)
    assert comms.xcoms == {}


def test_branch_reports_what_to_skip(outcome_of: Callable[..., Any]) -> None:
    comms = InMemoryComms()
    outcome = outcome_of("choose", comms)
    assert isinstance(outcome, TaskSucceeded)
    assert outcome.skip_task_ids == ["right"]
    assert comms.xcoms_of("choose") == {"return_value": "left"}


def test_short_circuit_reports_everything_downstream(outcome_of: Callable[..., Any]) -> None:
    outcome = outcome_of("gate")
    assert isinstance(outcome, TaskSucceeded)
    assert outcome.skip_task_ids == ["after_gate"]


def test_skip_exception_skips(outcome_of: Callable[..., Any]) -> None:
    assert isinstance(outcome_of("skip_me"), TaskSkipped)


def test_fail_exception_fails_without_retry(outcome_of: Callable[..., Any]) -> None:
    outcome = outcome_of("fail_for_good")
    assert isinstance(outcome, TaskFailed)
    assert outcome.no_retry
    assert "broken input" in (outcome.error or "")


def test_any_other_exception_fails_with_its_traceback_in_the_log(
    outcome_of: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="airlock.task"):
        outcome = outcome_of("boom")
    assert isinstance(outcome, TaskFailed)
    assert not outcome.no_retry
    assert outcome.error == "ValueError: kaboom"
    (record,) = [r for r in caplog.records if r.exc_info]
    assert "raise ValueError" in caplog.text
    assert record.getMessage() == "Task failed with exception"


def test_sys_exit_is_a_failure(outcome_of: Callable[..., Any]) -> None:
    outcome = outcome_of("leave")
    assert isinstance(outcome, TaskFailed)
    assert "sys.exit(3)" in (outcome.error or "")


def test_a_return_value_that_is_not_json_fails_the_task(outcome_of: Callable[..., Any]) -> None:
    outcome = outcome_of("not_json")
    assert isinstance(outcome, TaskFailed)
    assert "not JSON-serializable" in (outcome.error or "")


def test_reschedule_sensor_asks_for_a_later_try(outcome_of: Callable[..., Any]) -> None:
    before = dt.datetime.now(dt.UTC)
    outcome = outcome_of("wait")
    assert isinstance(outcome, TaskRescheduled)
    assert outcome.reschedule_date >= before + dt.timedelta(seconds=29)


def test_reschedule_sensor_times_out_from_its_first_poke(
    cases: Path, make_start: Any, make_context: Any
) -> None:
    start = make_start("cases.py", "cases", "wait")
    dag = dag_files.load_dag(str(cases), start.bundle_root, "cases")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    with use_comms(InMemoryComms()):
        outcome = task_runner.execute_task(
            dag.task_dict["wait"], start, make_context(start, first_poke_at=long_ago)
        )
    assert isinstance(outcome, TaskFailed)
    assert outcome.no_retry
    assert "timed out" in (outcome.error or "")


def test_outlets_become_asset_events(outcome_of: Callable[..., Any]) -> None:
    outcome = outcome_of("produce")
    assert isinstance(outcome, TaskSucceeded)
    assert outcome.asset_events == [
        AssetEventOut(name="report", uri="s3://bucket/report", extra={"rows": 3}),
        AssetEventOut(name="daily_1", uri="s3://bucket/daily/1", extra={"day": 1}),
    ]


def test_mapped_task_runs_its_own_element(outcome_of: Callable[..., Any]) -> None:
    comms = InMemoryComms()
    comms.xcom_push(
        dag_id="cases", run_id="manual__1", task_id="numbers", key="return_value", value=[1, 2, 3]
    )
    outcome = outcome_of("add", comms, map_index=2)
    assert isinstance(outcome, TaskSucceeded)
    assert comms.xcoms_of("add", map_index=2) == {"return_value": 13}
    assert comms.xcoms_of("add") == {}


def test_templates_render_from_the_run(
    cases: Path, make_start: Any, make_context: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    start = make_start("cases.py", "cases", "templated", conf={"who": "grace"})
    dag = dag_files.load_dag(str(cases), start.bundle_root, "cases")
    comms = InMemoryComms()
    with use_comms(comms):
        outcome = task_runner.execute_task(dag.task_dict["templated"], start, make_context(start))
    assert isinstance(outcome, TaskSucceeded)
    assert comms.xcoms_of("templated") == {"return_value": "grace 2024-03-01"}


# --- the channel --------------------------------------------------------------------------------


class Supervisor:
    """The test's end of a task channel, with ``serve`` running in a thread on the other end."""

    def __init__(self) -> None:
        self.sock, theirs = socket.socketpair()
        self.reader = self.sock.makefile("rb")
        self.exit_code: int | None = None
        self.thread = threading.Thread(target=self._serve, args=(theirs,), daemon=True)
        self.thread.start()

    def _serve(self, sock: socket.socket) -> None:
        self.exit_code = task_runner.serve(TaskChannel(sock))
        sock.close()

    def send(self, message: Any) -> None:
        self.sock.sendall(encode_frame(message))

    def receive(self) -> Any:
        return from_task_decoder.decode(read_frame(self.reader))


def test_serve_speaks_the_protocol(cases: Path, make_start: Any, make_context: Any) -> None:
    supervisor = Supervisor()
    start = make_start("cases.py", "cases", "plain")
    supervisor.send(start)
    assert supervisor.receive() == Hello(nonce=start.nonce)
    supervisor.send(RunTask(context=make_context(start)))
    assert supervisor.receive() == GetVariable(key="who")
    supervisor.send(VariableReply(value="lin"))
    assert supervisor.receive() == PushXCom(key="return_value", value={"x": 1, "who": "lin"})
    supervisor.send(Ack())
    done = supervisor.receive()
    assert isinstance(done, TaskDone)
    assert isinstance(done.outcome, TaskSucceeded)
    supervisor.thread.join(5)
    assert supervisor.exit_code == 0


def test_serve_stops_without_running_when_aborted(cases: Path, make_start: Any) -> None:
    supervisor = Supervisor()
    supervisor.send(make_start("cases.py", "cases", "boom"))
    supervisor.receive()
    supervisor.send(Abort(reason="the API refused the start"))
    supervisor.thread.join(5)
    assert supervisor.exit_code == 0
    assert supervisor.sock.recv(1) == b""


def test_an_api_refusal_reaches_task_code_as_an_exception(
    write_dag: Callable[[str, str], Path], make_start: Any, make_context: Any
) -> None:
    write_dag(
        "trigger.py",
        """
        from airlock.sdk import TriggerDagRunOperator, dag

        @dag(schedule=None)
        def trigger():
            TriggerDagRunOperator(task_id="go", trigger_dag_id="other", trigger_run_id="r1")

        trigger()
        """,
    )
    supervisor = Supervisor()
    start = make_start("trigger.py", "trigger", "go")
    supervisor.send(start)
    supervisor.receive()
    supervisor.send(RunTask(context=make_context(start)))
    assert isinstance(supervisor.receive(), TriggerRun)
    supervisor.send(ErrorReply(message="DAG 'other' is in another bundle", reason="refused"))
    done = supervisor.receive()
    assert isinstance(done.outcome, TaskFailed)
    assert "another bundle" in (done.outcome.error or "")


def test_a_missing_task_fails_the_try_and_says_why(
    cases: Path, make_start: Any, make_context: Any
) -> None:
    supervisor = Supervisor()
    start = make_start("cases.py", "cases", "no_such_task")
    supervisor.send(start)
    supervisor.receive()
    supervisor.send(RunTask(context=make_context(start)))
    done = supervisor.receive()
    assert isinstance(done.outcome, TaskFailed)
    assert "has no task 'no_such_task'" in (done.outcome.error or "")


def test_a_vanished_supervisor_ends_the_task(cases: Path, make_start: Any) -> None:
    supervisor = Supervisor()
    supervisor.send(make_start("cases.py", "cases", "plain"))
    supervisor.receive()
    supervisor.reader.close()
    supervisor.sock.close()
    supervisor.thread.join(5)
    assert supervisor.exit_code == 1
