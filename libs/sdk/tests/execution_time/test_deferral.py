"""Deferring: ``self.defer(...)`` becomes a ``deferred`` outcome naming the trigger, a start
with ``next_method`` resumes the operator in that method with the trigger's event, and a
failed trigger fails the task with its traceback. The built-in sensors defer when asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airlock.models.execution import (
    DagRunInfo,
    TaskDeferred,
    TaskFailed,
    TaskInstanceRef,
    TaskRunContext,
    TaskSucceeded,
)
from airlock.models.states import DagRunState
from airlock.sdk import (
    DAG,
    BaseOperator,
    DateTimeSensorAsync,
    FileSensor,
    TimeDeltaTrigger,
)
from airlock.sdk.execution_time.protocol import StartTask
from airlock.sdk.execution_time.task_runner import execute_task
from airlock.sdk.testing import InMemoryComms, use_comms

NOW = datetime.now(UTC)
RUN = DagRunInfo(
    dag_id="d", run_id="r", run_type="manual", state=DagRunState.RUNNING, logical_date=NOW
)


class Waits(BaseOperator):
    def execute(self, context: Any) -> None:
        self.defer(
            trigger=TimeDeltaTrigger(timedelta(minutes=5)),
            method_name="finish",
            kwargs={"attempt": 1},
            timeout=timedelta(minutes=10),
        )

    def finish(self, context: Any, event: Any = None, attempt: int = 0) -> str:
        print(f"resumed with {event} on attempt {attempt}")
        return f"{event['moment']}#{attempt}"


def _run(task: BaseOperator, **resume: Any) -> tuple[Any, InMemoryComms]:
    comms = InMemoryComms()
    start = StartTask(
        nonce="",
        ti=TaskInstanceRef(id="ti", dag_id="d", run_id="r", task_id=task.task_id),
        bundle="b",
        bundle_root="",
        relative_fileloc="",
        dag_run=RUN,
    )
    context = TaskRunContext(dag_run=RUN, try_number=1, max_tries=0, **resume)
    with use_comms(comms):
        return execute_task(task, start, context), comms


def test_defer_reports_the_trigger_and_how_to_resume() -> None:
    with DAG("d", schedule=None):
        task = Waits(task_id="w")
    before = datetime.now(UTC)
    outcome, _ = _run(task)
    assert isinstance(outcome, TaskDeferred)
    assert outcome.trigger_classpath == "airlock.sdk.triggers.temporal.DateTimeTrigger"
    moment = datetime.fromisoformat(outcome.trigger_kwargs["moment"])
    # The delta counts from when the task deferred, not from when this module was imported.
    assert before + timedelta(minutes=5) <= moment <= datetime.now(UTC) + timedelta(minutes=5)
    assert (outcome.next_method, outcome.next_kwargs, outcome.timeout_s) == (
        "finish",
        {"attempt": 1},
        600.0,
    )


def test_a_resumed_task_runs_its_method_with_the_event(capsys: Any) -> None:
    with DAG("d", schedule=None):
        task = Waits(task_id="w")
    outcome, comms = _run(
        task, next_method="finish", next_kwargs={"attempt": 1, "event": {"moment": "then"}}
    )
    assert isinstance(outcome, TaskSucceeded)
    assert "resumed with {'moment': 'then'} on attempt 1" in capsys.readouterr().out
    assert list(comms.xcoms.values()) == ["then#1"]  # the resumed method's return value


def test_a_failed_trigger_fails_the_task_with_its_traceback(caplog: Any) -> None:
    with DAG("d", schedule=None):
        task = Waits(task_id="w")
    outcome, _ = _run(
        task,
        next_method="__fail__",
        next_kwargs={"error": "ValueError: gone", "traceback": "Traceback ...\nValueError: gone"},
    )
    assert isinstance(outcome, TaskFailed)
    assert "the trigger failed: ValueError: gone" in str(outcome.error)
    assert "Traceback ...\nValueError: gone" in caplog.text


def test_a_success_event_ends_the_task_without_its_code() -> None:
    with DAG("d", schedule=None):
        task = Waits(task_id="w")
    outcome, _ = _run(task, next_method="__succeed__", next_kwargs={})
    assert isinstance(outcome, TaskSucceeded)


def test_sensors_defer_only_when_they_must_wait(tmp_path: Path) -> None:
    with DAG("d", schedule=None):
        later = DateTimeSensorAsync(task_id="later", target_time=NOW + timedelta(hours=1))
        past = DateTimeSensorAsync(task_id="past", target_time=NOW - timedelta(hours=1))
        missing = FileSensor(task_id="missing", filepath=str(tmp_path / "*.csv"), deferrable=True)
    deferred, _ = _run(later)
    assert isinstance(deferred, TaskDeferred)
    assert deferred.trigger_kwargs["moment"] == (NOW + timedelta(hours=1)).isoformat()
    assert isinstance(_run(past)[0], TaskSucceeded)
    waiting, _ = _run(missing)
    assert isinstance(waiting, TaskDeferred)
    assert waiting.trigger_classpath == "airlock.sdk.triggers.file.FileTrigger"
    (tmp_path / "a.csv").write_text("x")
    assert isinstance(_run(missing)[0], TaskSucceeded)
