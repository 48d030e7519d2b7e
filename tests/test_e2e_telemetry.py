"""One connected trace per DAG run through ``airlock run-all`` (ADR 0024).

A real OTLP receiver (``tests.support.otlp``) gets what every process exports. A run the
scheduler creates has spans from the scheduler, the API, the worker and the task process in one
trace, each with the parent the design gives it; a run created by ``POST …/dagRuns`` with a
``traceparent`` continues the caller's trace; a span the task's code opens nests under the task. The exporter's secrets the operator
gave the services (headers, certificates, client keys) never reach a task process, whose spans
still arrive.
"""

from __future__ import annotations

import secrets
import textwrap
from collections.abc import Iterator

import httpx
import pytest

from tests.support.otlp import OtlpReceiver, ReceivedSpan
from tests.support.processes import RunAll
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

DAG_FILE = textwrap.dedent("""
    from datetime import datetime, timedelta
    from opentelemetry import trace
    from airlock.sdk import dag, task
    from airlock.sdk.sensors import TimeDeltaSensorAsync

    @task
    def extract():
        with trace.get_tracer("user.code").start_as_current_span("user work"):
            return 21

    @task
    def double(value):
        return value * 2

    @dag(schedule="@once", start_date=datetime(2026, 1, 1), catchup=False)
    def traced_once():
        double(extract())

    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def traced_manual():
        double(extract())

    def note(context):
        print("traced_waits succeeded")

    @dag(schedule=None, start_date=datetime(2026, 1, 1), on_success_callback=note)
    def traced_waits():
        TimeDeltaSensorAsync(task_id="wait", delta=timedelta(seconds=1))

    @task
    def spy():
        import os
        return {
            "otel": sorted(k for k in os.environ if k.startswith("OTEL_")),
            "leaked": any("s3cret" in v for v in os.environ.values()),
        }

    @dag(schedule=None, start_date=datetime(2026, 1, 1))
    def traced_spy():
        spy()

    traced_once()
    traced_manual()
    traced_waits()
    traced_spy()
""")

#: What an operator gives the services to reach a collector that wants credentials.
EXPORTER_SECRETS = {
    "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=s3cret",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-api-key=s3cret",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY": "client-s3cret.key",
    "OTEL_EXPORTER_OTLP_CERTIFICATE": "ca-s3cret.pem",
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver) -> Iterator[RunAll]:
    base = tmp_path_factory.mktemp("traced")
    dags = base / "dags"
    dags.mkdir()
    (dags / "traced.py").write_text(DAG_FILE)
    files = {}
    for name, value in EXPORTER_SECRETS.items():
        files[name] = value if name.endswith("_HEADERS") else str(base / value)
        if not name.endswith("_HEADERS"):
            (base / value).write_text("-----BEGIN NOTHING-----\n")
    stack = RunAll.start(
        base,
        dags,
        **files,
        AIRLOCK_TELEMETRY__OTLP_ENDPOINT=receiver.url,
        AIRLOCK_TELEMETRY__METRIC_EXPORT_INTERVAL_S="1",
        OTEL_BSP_SCHEDULE_DELAY="300",
    )
    yield stack
    stack.stop()


def _token(stack: RunAll) -> dict[str, str]:
    answer = httpx.post(
        f"{stack.url}/api/v1/auth/token",
        json={"username": "admin", "password": stack.admin_password()},
    )
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _run_state(stack: RunAll, headers: dict[str, str], dag_id: str) -> str | None:
    answer = httpx.get(f"{stack.url}/api/v1/dags/{dag_id}/dagRuns", headers=headers)
    runs = answer.json().get("dag_runs", []) if answer.status_code == 200 else []
    return runs[0]["state"] if runs else None


def _trigger_in_a_new_trace(stack: RunAll, headers: dict[str, str], dag_id: str) -> tuple[str, str]:
    """Unpause ``dag_id`` and trigger it in a new trace; (the trace id, the run id)."""
    assert wait_until(
        lambda: (
            httpx.patch(
                f"{stack.url}/api/v1/dags/{dag_id}", json={"is_paused": False}, headers=headers
            ).status_code
            == 200
        ),
        60,
    )
    trace_id = secrets.token_hex(16)
    answer = httpx.post(
        f"{stack.url}/api/v1/dags/{dag_id}/dagRuns",
        json={},
        headers={**headers, "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
    )
    assert answer.status_code in (200, 201), answer.text
    return trace_id, str(answer.json()["run_id"])


def _by_name(spans: list[ReceivedSpan], prefix: str) -> list[ReceivedSpan]:
    return [span for span in spans if span.name.startswith(prefix)]


def _complete(spans: list[ReceivedSpan], dag_id: str) -> bool:
    """Whether every process's spans of the run arrived (each exports in its own batches)."""
    names = {span.name for span in spans}
    wanted = {f"dag_run {dag_id}", "user work"} | {
        f"{kind} {task}" for kind in ("task", "run", "execute") for task in ("extract", "double")
    }
    return wanted <= names and (dag_id != "traced_once" or "schedule" in names)


def _check_tree(spans: list[ReceivedSpan], dag_id: str) -> None:
    by_id = {span.span_id: span for span in spans}
    (root,) = _by_name(spans, f"dag_run {dag_id}")
    for task_id in ("extract", "double"):
        (api_try,) = _by_name(spans, f"task {task_id}")
        assert api_try.parent_span_id == root.span_id
        (worker_try,) = _by_name(spans, f"run {task_id}")
        assert worker_try.service == "airlock-worker"
        assert worker_try.parent_span_id == api_try.span_id
        (process,) = _by_name(spans, f"execute {task_id}")
        assert process.service == "airlock-task"
        assert process.parent_span_id == worker_try.span_id
    (user,) = _by_name(spans, "user work")
    assert by_id[user.parent_span_id].name == "execute extract"
    queued = _by_name(spans, "queued")
    assert queued
    assert all(span.parent_span_id == root.span_id for span in queued)
    # The worker's calls to the Execution API (start, heartbeats, state) are its children.
    api_requests = [s for s in spans if s.service == "airlock-api" and s.parent_span_id in by_id]
    assert any(by_id[s.parent_span_id].service == "airlock-worker" for s in api_requests)


def test_a_scheduled_run_is_one_trace_across_every_process(
    stack: RunAll, receiver: OtlpReceiver
) -> None:
    headers = _token(stack)
    assert wait_until(lambda: _run_state(stack, headers, "traced_once") == "success", 120), (
        stack.output()[-3000:]
    )
    root: list[ReceivedSpan] = []

    def root_arrived() -> bool:
        root[:] = [s for s in receiver.spans if s.name == "dag_run traced_once"]
        return bool(root) and _complete(receiver.trace(root[0].trace_id), "traced_once")

    assert wait_until(root_arrived, 30), sorted({(s.service, s.name) for s in receiver.spans})
    spans = receiver.trace(root[0].trace_id)
    assert {"airlock-scheduler", "airlock-api", "airlock-worker", "airlock-task"} <= {
        s.service for s in spans
    }
    (schedule,) = _by_name([s for s in spans if s.service == "airlock-scheduler"], "schedule")
    assert schedule.parent_span_id == root[0].span_id
    _check_tree(spans, "traced_once")


def test_a_triggered_run_continues_the_callers_trace(stack: RunAll, receiver: OtlpReceiver) -> None:
    headers = _token(stack)
    assert wait_until(
        lambda: (
            httpx.patch(
                f"{stack.url}/api/v1/dags/traced_manual", json={"is_paused": False}, headers=headers
            ).status_code
            == 200
        ),
        60,
    )
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    answer = httpx.post(
        f"{stack.url}/api/v1/dags/traced_manual/dagRuns",
        json={},
        headers={**headers, "traceparent": f"00-{trace_id}-{caller_span}-01"},
    )
    assert answer.status_code in (200, 201), answer.text
    assert wait_until(lambda: _run_state(stack, headers, "traced_manual") == "success", 120)
    assert wait_until(lambda: _complete(receiver.trace(trace_id), "traced_manual"), 30)
    spans = receiver.trace(trace_id)
    (request,) = [s for s in spans if s.parent_span_id == caller_span]
    assert request.service == "airlock-api"
    (root,) = _by_name(spans, "dag_run traced_manual")
    assert root.parent_span_id == request.span_id
    _check_tree(spans, "traced_manual")


def test_trigger_waits_and_callbacks_are_spans_of_the_run(
    stack: RunAll, receiver: OtlpReceiver
) -> None:
    headers = _token(stack)
    trace_id, _ = _trigger_in_a_new_trace(stack, headers, "traced_waits")
    assert wait_until(lambda: _run_state(stack, headers, "traced_waits") == "success", 120)

    def arrived() -> bool:
        names = {span.name for span in receiver.trace(trace_id)}
        return {"dag_run traced_waits", "trigger wait"} <= names and any(
            name.startswith("callback ") for name in names
        )

    assert wait_until(arrived, 60), sorted({s.name for s in receiver.trace(trace_id)})
    spans = receiver.trace(trace_id)
    (root,) = _by_name(spans, "dag_run traced_waits")
    (wait,) = _by_name(spans, "trigger wait")
    (callback,) = _by_name(spans, "callback ")
    assert wait.parent_span_id == root.span_id
    assert callback.parent_span_id == root.span_id
    assert callback.attributes["airlock.state"] == "success"


def test_a_task_gets_where_to_export_but_no_exporter_secret(
    stack: RunAll, receiver: OtlpReceiver
) -> None:
    headers = _token(stack)
    trace_id, run_id = _trigger_in_a_new_trace(stack, headers, "traced_spy")
    assert wait_until(lambda: _run_state(stack, headers, "traced_spy") == "success", 120)
    seen = httpx.get(
        f"{stack.url}/api/v1/dags/traced_spy/dagRuns/{run_id}/taskInstances/spy/"
        "xcomEntries/return_value",
        headers=headers,
    )
    assert seen.status_code == 200, seen.text
    assert seen.json()["value"] == {
        "otel": ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL"],
        "leaked": False,
    }
    # The task's tracing still works: its span arrives, under the worker's.
    assert wait_until(lambda: _by_name(receiver.trace(trace_id), "execute spy"), 30)
    (process,) = _by_name(receiver.trace(trace_id), "execute spy")
    assert process.service == "airlock-task"


def test_metrics_are_exported_under_airlock(stack: RunAll, receiver: OtlpReceiver) -> None:
    wanted = {
        "airlock.tasks.finished",
        "airlock.task.duration",
        "airlock.scheduler.loop.duration",
        # the user-code zone services export theirs over OTLP too
        "airlock.worker.slots",
        "airlock.worker.polls",
        "airlock.triggerer.triggers.running",
    }
    assert wait_until(lambda: wanted <= receiver.metric_names, 30), receiver.metric_names


def test_log_lines_carry_trace_ids(stack: RunAll) -> None:
    assert wait_until(lambda: "trace_id=" in stack.output(), 30)
