"""Runs one task try inside a worker's task process, and says how it ended.

The process was forked from the worker's zygote with the SDK already imported; its stdout and
stderr (file descriptors 1 and 2, so C extensions and subprocesses too) go to the supervisor,
which ships them as the try's log. It holds no token: everything it asks of Airlock goes over the
channel of :mod:`airlock.sdk.execution_time.protocol` as requests the supervisor answers.

Steps (:func:`serve`): receive :class:`StartTask`, answer :class:`Hello`, load the DAG file and
find the task while the supervisor tells the API the task is starting, receive
:class:`RunTask`, then render templates, run ``pre_execute`` / ``execute`` / ``post_execute``,
push the return value to XCom and send :class:`TaskDone` with the outcome:

- normal return → ``success``, with the skip decisions of a branch or short-circuit and the
  asset events of the task's outlets;
- ``AirflowSkipException`` → ``skipped``; ``RescheduleRequested`` (a sensor in reschedule mode)
  → ``up_for_reschedule``; ``TaskDeferred`` (``self.defer(...)``) → ``deferred`` with the
  trigger, and a later try-continuing start with ``next_method`` calls that method instead of
  ``execute``; ``AirflowFailException`` → ``failed`` without retry;
- any other exception, ``sys.exit`` included → ``failed`` (retried if retries remain), with the
  traceback in the log.
"""

from __future__ import annotations

import _signal
import logging
import os
import socket
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import msgspec

from airlock.models.execution import (
    AssetEventOut,
    DagRunInfo,
    TaskFailed,
    TaskInstanceRef,
    TaskOutcome,
    TaskRescheduled,
    TaskRunContext,
    TaskSkipped,
    TaskSucceeded,
)
from airlock.models.execution import TaskDeferred as TaskDeferredOutcome
from airlock.models.execution import TriggeringAssetEvent as TriggeringEventPayload
from airlock.models.states import DagRunState
from airlock.sdk.bases.branch import BranchDecision
from airlock.sdk.definitions.asset import Asset, AssetAlias
from airlock.sdk.definitions.asset_runs import event_asset
from airlock.sdk.definitions.mappedoperator import MappedOperator
from airlock.sdk.definitions.retry_policy import RetryAction, decide_retry
from airlock.sdk.definitions.xcom_arg import RETURN_VALUE_KEY
from airlock.sdk.exceptions import (
    AirlockException,
    AirlockFailException,
    AirlockSkipException,
    RescheduleRequested,
    TaskDeferred,
)
from airlock.sdk.execution_time import dag_files, tracing
from airlock.sdk.execution_time.comms import set_comms
from airlock.sdk.execution_time.context import (
    OutletEventAccessors,
    RuntimeTaskInstance,
    TriggeringAssetEvent,
    TriggeringAssetEventsAccessor,
    build_context,
    set_current_context,
)
from airlock.sdk.execution_time.protocol import (
    HEADER_SIZE,
    Abort,
    Hello,
    RunTask,
    StartTask,
    TaskDone,
    encode_frame,
    from_task_decoder,
    to_task_decoder,
)
from airlock.sdk.execution_time.supervised import memory_limit_bytes
from airlock.sdk.execution_time.supervisor_comms import (
    SupervisorComms,
    SupervisorGone,
    TaskChannel,
)
from airlock.sdk.timezone import json_enc_hook

if TYPE_CHECKING:
    from airlock.sdk.definitions.abstractoperator import AbstractOperator
    from airlock.sdk.definitions.context import Context

log = logging.getLogger("airlock.task")

LOG_FORMAT = "[%(asctime)s] {%(filename)s:%(lineno)d} %(levelname)s - %(message)s"
#: Longest error message sent with a failed outcome; the full traceback is in the log.
MAX_ERROR_CHARS = 2000

#: The task being executed, for the SIGTERM handler (``on_kill``).
_running: list[AbstractOperator] = []


def configure_process() -> None:
    """Logging and buffering for task processes; the zygote calls it once, tasks inherit it."""
    root = logging.getLogger()
    if not any(getattr(h, "_airlock_task", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._airlock_task = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    # stdout is a pipe: without line buffering a print would reach the log only at exit.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)


def warm_up() -> None:
    """Run a no-op task through the runner once, in memory, in the zygote.

    What the first task of a process initializes lazily — msgspec's view of the protocol's
    types, Jinja's lexer, the context's helpers — is then inherited by every forked task instead
    of being built again (and its memory pages copied) in each of them.
    """
    from airlock.sdk.definitions import _active
    from airlock.sdk.definitions.dag import DAG
    from airlock.sdk.definitions.decorators import task
    from airlock.sdk.testing import InMemoryComms, use_comms

    run = DagRunInfo(
        dag_id="airlock_warm_up",
        run_id="warm_up",
        run_type="manual",
        state=DagRunState.RUNNING,
        logical_date=_now(),
    )
    start = StartTask(
        nonce="",
        ti=TaskInstanceRef(id="", dag_id=run.dag_id, run_id=run.run_id, task_id="noop"),
        bundle="",
        bundle_root="",
        relative_fileloc="",
        dag_run=run,
    )
    running = RunTask(context=TaskRunContext(dag_run=run, try_number=1, max_tries=0))
    for message in (start, running):
        to_task_decoder.decode(encode_frame(message)[HEADER_SIZE:])
    try:
        with DAG("airlock_warm_up", schedule=None):

            @task(task_id="noop")
            def noop() -> int:
                return 1

            operator = noop().operator
        with use_comms(InMemoryComms()):
            outcome = execute_task(operator, start, running.context)
        from_task_decoder.decode(encode_frame(TaskDone(outcome=outcome))[HEADER_SIZE:])
    finally:
        _active.clear()


def main(sock: socket.socket) -> NoReturn:
    """Entry point of a forked task process: run the task, then exit without cleanup."""
    _signal.signal(_signal.SIGTERM, _on_sigterm)  # without signal.signal's enum conversions
    code = serve(TaskChannel(sock))
    _flush()
    tracing.flush_spans()
    # Skip interpreter teardown: the zygote's atexit handlers and finalizers are not ours, and a
    # task process that exits at once frees its slot sooner.
    os._exit(code)


def serve(channel: TaskChannel) -> int:
    """The conversation with the supervisor; returns the process's exit code."""
    try:
        start = channel.receive()
        if not isinstance(start, StartTask):
            raise AirlockException(f"expected StartTask first, got {type(start).__name__}")
        channel.send(Hello(nonce=start.nonce))
        previous = set_comms(SupervisorComms(channel, start.ti))
        try:
            task, load_error = _load(start)
            message = channel.receive()
            if isinstance(message, Abort):
                return 0
            if not isinstance(message, RunTask):
                raise AirlockException(f"expected RunTask, got {type(message).__name__}")
            if task is None:
                outcome: TaskOutcome = TaskFailed(end_date=_now(), error=load_error)
            else:
                with tracing.task_span(
                    start.traceparent,
                    f"execute {start.ti.task_id}",
                    {"airlock.dag_id": start.ti.dag_id, "airlock.task_id": start.ti.task_id},
                ):
                    outcome = execute_task(task, start, message.context)
            channel.send(TaskDone(outcome=_sendable(outcome)))
        finally:
            set_comms(previous)
        return 0
    except SupervisorGone:
        return 1


def _load(start: StartTask) -> tuple[AbstractOperator | None, str | None]:
    ti = start.ti
    path = os.path.join(start.bundle_root, start.relative_fileloc)
    try:
        path = dag_files.file_in_bundle(start.bundle_root, start.relative_fileloc)
        dag = dag_files.load_dag(path, start.bundle_root, ti.dag_id, ti.task_id)
        task = dag.task_dict.get(ti.task_id)
        if task is None:
            raise dag_files.DagNotFound(
                f"DAG {ti.dag_id!r} in {start.relative_fileloc} has no task {ti.task_id!r}; the "
                "file on this worker may differ from the one the DAG processor parsed"
            )
        return task, None
    except BaseException as exc:
        log.exception("Could not load task %s.%s from %s", ti.dag_id, ti.task_id, path)
        return None, _summary(exc)


def execute_task(task: AbstractOperator, start: StartTask, run: TaskRunContext) -> TaskOutcome:
    """Run one try of ``task`` with the installed comms and say how it ended (never raises)."""
    try:
        return _execute(task, start, run)
    except AirlockSkipException as exc:
        log.info("Task skipped: %s", exc)
        return TaskSkipped(end_date=_now())
    except RescheduleRequested as exc:
        log.info("Task asks to be rescheduled at %s", exc.reschedule_date.isoformat())
        return TaskRescheduled(reschedule_date=exc.reschedule_date, end_date=_now())
    except TaskDeferred as exc:
        return _deferred(exc)
    except AirlockFailException as exc:
        log.exception("Task failed without retry")
        return TaskFailed(end_date=_now(), error=_summary(exc), no_retry=True)
    except SystemExit as exc:
        log.error("Task called sys.exit(%r)", exc.code)
        return TaskFailed(end_date=_now(), error=f"the task called sys.exit({exc.code!r})")
    except MemoryError:
        limit = memory_limit_bytes()
        error = "the task ran out of memory" + (
            f": it went over the worker's limit of {limit / 2**20:.0f} MiB per task "
            "([worker] task_memory_mb)"
            if limit
            else ""
        )
        log.exception("Task failed: %s", error)
        return TaskFailed(end_date=_now(), error=error)
    except BaseException as exc:
        log.exception(
            "Task failed with exception%s", "; it will be retried" if run.should_retry else ""
        )
        return TaskFailed(end_date=_now(), error=_summary(exc))


def _execute(task: AbstractOperator, start: StartTask, run: TaskRunContext) -> TaskOutcome:
    ref = start.ti
    dag_run = run.dag_run
    events = triggering_asset_events(run.triggering_asset_events)
    if isinstance(task, MappedOperator):
        probe = RuntimeTaskInstance(task=task, dag_id=ref.dag_id, run_id=ref.run_id)
        expanded = task.expand_kwargs_at(build_context(task, probe, dag_run, events), ref.map_index)
        task = task.unmap(expanded)
    ti = RuntimeTaskInstance(
        task=task,
        dag_id=ref.dag_id,
        run_id=ref.run_id,
        map_index=ref.map_index,
        try_number=run.try_number,
        start_date=_now(),
        first_poke_at=run.first_poke_at,
        logical_date=dag_run.logical_date,
    )
    context = build_context(task, ti, dag_run, events)
    runnable: Any = task
    with set_current_context(context):
        _running.append(task)
        try:
            runnable.render_template_fields(context)
            if run.next_method:
                log.info("Resuming after deferral with %s", run.next_method)
                result = runnable.resume_execution(run.next_method, run.next_kwargs, context)
            else:
                runnable.pre_execute(context)
                result = runnable.execute(context)
            runnable.post_execute(context, result)
        except _NOT_FAILURES:
            raise
        except Exception as exc:
            failed = _failed_by_policy(task, exc, run, context)
            if failed is None:
                raise
            return failed
        finally:
            _running.pop()
    decision = result if isinstance(result, BranchDecision) else None
    value = decision.return_value if decision is not None else result
    if task.do_xcom_push and value is not None:
        ti.xcom_push(RETURN_VALUE_KEY, value)
    return TaskSucceeded(
        end_date=_now(),
        asset_events=asset_events(task, context),
        skip_task_ids=list(decision.skip_task_ids) if decision is not None else [],
    )


#: Exceptions that end a try some other way than failing: a retry policy never sees them.
_NOT_FAILURES = (AirlockSkipException, RescheduleRequested, TaskDeferred, AirlockFailException)


def _failed_by_policy(
    task: AbstractOperator, exc: Exception, run: TaskRunContext, context: Context
) -> TaskOutcome | None:
    """The failed outcome the task's retry policy decided on, or None to fail as usual."""
    decision = decide_retry(task.retry_policy, exc, run.try_number, run.max_tries, context)
    reason = f" ({decision.reason})" if decision.reason else ""
    if decision.action is RetryAction.FAIL:
        log.exception("Task failed; its retry policy says not to retry%s", reason)
        return TaskFailed(end_date=_now(), error=_summary(exc) + reason, no_retry=True)
    if decision.action is RetryAction.RETRY:
        delay = decision.retry_delay
        log.exception(
            "Task failed; its retry policy retries it%s%s",
            f" in {delay.total_seconds():g}s" if delay is not None else "",
            reason,
        )
        return TaskFailed(
            end_date=_now(),
            error=_summary(exc) + reason,
            retry_delay_s=min(delay.total_seconds(), 86400.0) if delay is not None else None,
        )
    return None


def triggering_asset_events(
    payloads: list[TriggeringEventPayload],
) -> TriggeringAssetEventsAccessor:
    """The asset events that triggered the run, as the API describes them, keyed by asset for
    the context's ``triggering_asset_events``."""
    return TriggeringAssetEventsAccessor(
        TriggeringAssetEvent(
            asset=event_asset(event.name, event.uri),
            timestamp=event.timestamp,
            extra=dict(event.extra),
            source_dag_id=event.source_dag_id,
            source_task_id=event.source_task_id,
            source_run_id=event.source_run_id,
            source_map_index=event.source_map_index,
        )
        for event in payloads
    )


def asset_events(task: AbstractOperator, context: Context) -> list[AssetEventOut]:
    """One event per asset outlet, and one per asset attached to an alias outlet."""
    accessors: OutletEventAccessors = context["outlet_events"]
    events = []
    for outlet in getattr(task, "outlets", []):
        if isinstance(outlet, Asset):
            extra = accessors[outlet].extra if outlet in accessors else {}
            events.append(_event(outlet, extra))
        elif isinstance(outlet, AssetAlias) and outlet in accessors:
            events += [_event(a, extra) for a, extra in accessors[outlet].asset_alias_events]
    return events


def _event(asset: Asset, extra: dict[str, Any]) -> AssetEventOut:
    try:
        extra = msgspec.json.decode(msgspec.json.encode(extra, enc_hook=json_enc_hook))
    except (TypeError, msgspec.EncodeError) as exc:
        raise TypeError(
            f"the extra of the event for asset {asset.name!r} is not JSON-serializable: {exc}"
        ) from None
    return AssetEventOut(name=asset.name, uri=asset.uri, extra=extra)


def _deferred(exc: TaskDeferred) -> TaskOutcome:
    """The outcome of a task that deferred: its trigger as ``serialize()`` describes it."""
    try:
        classpath, kwargs = exc.trigger.serialize()
        kwargs = msgspec.json.decode(msgspec.json.encode(kwargs))
        next_kwargs = msgspec.json.decode(msgspec.json.encode(exc.kwargs))
    except Exception as error:
        log.exception("The task deferred to a trigger that cannot be sent")
        return TaskFailed(
            end_date=_now(),
            error=f"the trigger {type(exc.trigger).__name__} cannot be serialized to JSON: {error}",
        )
    log.info("Task deferred to %s; it resumes with %s", classpath, exc.method_name)
    return TaskDeferredOutcome(
        trigger_classpath=classpath,
        trigger_kwargs=kwargs,
        next_method=exc.method_name,
        next_kwargs=next_kwargs,
        timeout_s=exc.timeout,
    )


def _sendable(outcome: TaskOutcome) -> TaskOutcome:
    try:
        msgspec.msgpack.encode(outcome)
    except (TypeError, msgspec.EncodeError) as exc:
        log.error("The task's outcome cannot be sent: %s", exc)
        return TaskFailed(end_date=_now(), error=f"the task's outcome cannot be sent: {exc}")
    return outcome


def _summary(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _now() -> datetime:
    return datetime.now(UTC)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """The supervisor is stopping this task: let the operator clean up, then go."""
    for task in _running:
        on_kill = getattr(task, "on_kill", None)
        if on_kill is not None:
            _quietly(on_kill)
    _flush()
    os._exit(128 + signum)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        _quietly(stream.flush)


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except Exception:
        log.exception("ignored while stopping")
