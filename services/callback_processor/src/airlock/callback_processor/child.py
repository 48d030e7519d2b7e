"""The callback child: imports a callback's DAG file and calls the callback with its context.

Started by the processor as a supervised child (:mod:`airlock.sdk.execution_time.supervised`)
with no token, no DB URL and ``AIRLOCK_ZONE=processing``; it serves one ``RunCallback`` after
another on private copies of stdin/stdout, keeping imported DAG files cached while they are
unchanged on disk. What a callback prints or logs becomes the attempt's log; an exception (or
a file that will not import) becomes its error. A callback reads variables and connections of
its bundle by asking the processor (``Variable.get`` / ``Connection.get`` work as in a task).

A callback is found the way the DAG defines it: the DAG's, or its task's,
``on_<event>_callback`` list, or the callback of the DAG's ``deadline`` alert the request names
(a callable or a list of them; each one is called in order, and the first that raises ends the
attempt).
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
import traceback
from types import SimpleNamespace
from typing import Any

from airlock.callback_processor.protocol import (
    MAX_FRAME,
    CallbackFinished,
    ChildReady,
    RunCallback,
    to_child_decoder,
)
from airlock.sdk.execution_time.lookup_comms import LookupComms
from airlock.sdk.execution_time.supervised import (
    block_imports,
    confinement,
    enter_sandbox,
    parent_pid,
    read_frame,
    take_channel,
    write_frame,
)

#: The callback list each kind calls: on the DAG (``dag_*``) or on the task (``task_*``).
CALLBACK_ATTRIBUTE = {
    "dag_success": "on_success_callback",
    "dag_failure": "on_failure_callback",
    "task_execute": "on_execute_callback",
    "task_success": "on_success_callback",
    "task_failure": "on_failure_callback",
    "task_retry": "on_retry_callback",
    "task_skipped": "on_skipped_callback",
}
MAX_LOG = 60_000


def find_callbacks(request: RunCallback) -> tuple[Any, Any, list[Any]]:
    """The DAG, the task (or None) and the callables of the request's event."""
    from airlock.sdk.execution_time.dag_files import load_dag, preload

    preload(request.path, request.bundle_root)
    dag = load_dag(request.path, request.bundle_root, request.dag_id)
    if request.callback_kind == "deadline":
        index = int(request.payload.get("alert_index", -1))
        if not 0 <= index < len(dag.deadline):
            raise LookupError(
                f"DAG {request.dag_id!r} in {request.path} has no deadline alert #{index} any more"
            )
        return dag, None, list(dag.deadline[index].callback)
    attribute = CALLBACK_ATTRIBUTE.get(request.callback_kind)
    if attribute is None:
        raise LookupError(f"unknown callback kind {request.callback_kind!r}")
    if request.callback_kind.startswith("dag_"):
        return dag, None, list(getattr(dag, attribute))
    task = dag.task_dict.get(request.task_id or "")
    if task is None:
        raise LookupError(
            f"DAG {request.dag_id!r} in {request.path} has no task {request.task_id!r} any more"
        )
    return dag, task, list(getattr(task, attribute))


def build_context(request: RunCallback, dag: Any, task: Any) -> dict[str, Any]:
    """The Airflow-shaped context a callback receives, plus what at-least-once delivery needs:
    ``idempotency_key`` (the same for every attempt of one event) and ``callback_attempt``."""
    payload = request.payload
    ti = None
    if request.task_id is not None:
        ti = SimpleNamespace(
            dag_id=request.dag_id,
            run_id=request.run_id,
            task_id=request.task_id,
            map_index=request.map_index,
            try_number=request.try_number,
            state=payload.get("state"),
            task=task,
        )
    dag_run = SimpleNamespace(
        dag_id=request.dag_id,
        run_id=request.run_id,
        state=payload.get("state") if request.callback_kind.startswith("dag_") else None,
    )
    error = payload.get("error")
    return {
        "dag": dag,
        "dag_id": request.dag_id,
        "run_id": request.run_id,
        "dag_run": dag_run,
        "task": task,
        "task_id": request.task_id,
        "ti": ti,
        "task_instance": ti,
        "map_index": request.map_index,
        "try_number": request.try_number,
        "params": dict(dag.params) if dag is not None else {},
        "state": payload.get("state"),
        "reason": payload.get("reason") or error,
        "exception": error,
        "callback_kind": request.callback_kind,
        "idempotency_key": request.idempotency_key,
        "callback_attempt": request.attempt,
        "callback_max_attempts": request.max_attempts,
        "deadline_at": payload.get("deadline_at"),
    }


def run_callback(request: RunCallback) -> CallbackFinished:
    threads_before = {t.ident for t in threading.enumerate()}
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    error: str | None = None
    must_restart = False
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            dag, task, callables = find_callbacks(request)
            context = build_context(request, dag, task)
            for callback in callables:
                callback(context)
    except SystemExit as exc:
        error = f"the callback called sys.exit({exc.code!r})"
        must_restart = True
    except BaseException:
        error = traceback.format_exc()
    finally:
        root.removeHandler(handler)
    leftover = [t for t in threading.enumerate() if t.ident not in threads_before and t.is_alive()]
    if leftover:
        must_restart = True
    log = output.getvalue()
    return CallbackFinished(
        error=error[-MAX_LOG:] if error else None,
        log=log[-MAX_LOG:],
        must_restart=must_restart,
    )


def serve() -> None:
    enter_sandbox(parent_pid(), confinement=confinement())
    requests_in, replies_out = take_channel()
    block_imports(
        "callbacks",
        "read variables and connections with airlock.sdk.Variable / Connection instead",
    )
    sys.dont_write_bytecode = True

    import airlock.sdk

    airlock.sdk.preload()
    from airlock.sdk.execution_time.comms import set_comms

    set_comms(
        LookupComms(
            replies_out,
            requests_in,
            decoder=to_child_decoder,
            max_frame=MAX_FRAME,
            unavailable="in a callback; only Variable.get and Connection.get are (do this work "
            "in a task)",
        )
    )
    write_frame(replies_out, ChildReady(), max_frame=MAX_FRAME)
    while True:
        try:
            message = to_child_decoder.decode(read_frame(requests_in, max_frame=MAX_FRAME))
        except EOFError:
            return
        if not isinstance(message, RunCallback):
            continue
        result = run_callback(message)
        write_frame(replies_out, result, max_frame=MAX_FRAME)
        if result.must_restart:
            return


if __name__ == "__main__":
    serve()
