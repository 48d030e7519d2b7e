"""What the supervisor does for a task process that asks: one Execution API call per request.

The task process sends requests over its channel (:mod:`airlock.sdk.execution_time.protocol`);
:func:`answer` makes the call with the task's own client — the token never leaves the supervisor —
and turns the result, or the refusal, into the reply frame. The API scopes every call to the
task's token (its own task instance for writes, its bundle for reads), so the supervisor needs no
policy of its own: a task asking for something it may not have gets the API's 403 as an error.
"""

from __future__ import annotations

import logging

import httpx

from airlock.models.execution import TaskInstanceRef, TriggerDagRun
from airlock.sdk.api import ApiError, ExecutionClient
from airlock.sdk.execution_time.protocol import (
    Ack,
    AssetEventsReply,
    ConnectionReply,
    DagRunReply,
    DeleteState,
    DeleteVariable,
    ErrorReply,
    FindDagRun,
    GetAssetEvents,
    GetConnection,
    GetDagRunState,
    GetState,
    GetTaskStates,
    GetVariable,
    PullXCom,
    PushXCom,
    SetState,
    SetVariable,
    StateReply,
    TaskRequest,
    TaskStatesReply,
    ToTask,
    TriggerRun,
    VariableReply,
    XComReply,
)
from airlock.sdk.execution_time.secrets_masker import SecretsMasker

log = logging.getLogger("airlock.worker")


def answer(
    client: ExecutionClient, ti: TaskInstanceRef, request: TaskRequest, secrets: SecretsMasker
) -> ToTask:
    """The reply to ``request``; API refusals and outages become an :class:`ErrorReply`. Every
    secret handed to the task is registered with ``secrets`` first, so the task's log masks it."""
    try:
        return _call(client, ti, request, secrets)
    except ApiError as exc:
        reason = (
            "already_exists"
            if isinstance(request, TriggerRun) and exc.status == 409
            else ("not_found" if exc.status == 404 else "refused")
        )
        return ErrorReply(
            message=f"the Execution API answered {exc.status}: {exc.detail}", reason=reason
        )
    except httpx.HTTPError as exc:
        return ErrorReply(
            message=f"the Execution API is unreachable from the worker ({exc!r}); try again later",
            reason="unavailable",
        )
    except Exception as exc:
        log.exception("could not answer a task's %s", type(request).__name__)
        return ErrorReply(
            message=f"the worker could not answer {type(request).__name__}: {exc!r}",
            reason="refused",
        )


def _call(
    client: ExecutionClient, ti: TaskInstanceRef, request: TaskRequest, secrets: SecretsMasker
) -> ToTask:
    match request:
        case GetVariable(key=key):
            value = client.get_variable(key)
            secrets.add_variable(key, value)
            return VariableReply(value=value)
        case SetVariable(key=key, value=value, description=description):
            secrets.add_variable(key, value)
            client.set_variable(key, value, description)
            return Ack()
        case DeleteVariable(key=key):
            client.delete_variable(key)
            return Ack()
        case GetConnection(conn_id=conn_id):
            connection = client.get_connection(conn_id)
            secrets.add_connection(connection)
            return ConnectionReply(connection=connection)
        case PushXCom(key=key, value=value):
            client.push_xcom(ti.id, key, value)
            return Ack()
        case PullXCom():
            value = client.pull_xcom(
                request.dag_id, request.run_id, request.task_id, request.key, request.map_index
            )
            return XComReply(value=value)
        case TriggerRun():
            run = client.trigger_dag_run(
                request.dag_id,
                TriggerDagRun(
                    run_id=request.run_id,
                    conf=request.conf,
                    logical_date=request.logical_date,
                    reset_dag_run=request.reset_dag_run,
                ),
            )
            return DagRunReply(run_id=run.run_id, state=str(run.state))
        case GetDagRunState(dag_id=dag_id, run_id=run_id):
            info = client.get_dag_run(dag_id, run_id)
            return DagRunReply(run_id=run_id, state=str(info.state) if info is not None else None)
        case GetState(key=key, asset_uri=asset_uri):
            entry = client.get_state(ti.id, key, asset_uri)
            return StateReply(found=entry is not None, value=entry and entry.value)
        case SetState(key=key, value=value, retention_s=retention_s, asset_uri=asset_uri):
            client.set_state(ti.id, key, value, retention_s=retention_s, asset_uri=asset_uri)
            return Ack()
        case FindDagRun(dag_id=dag_id, logical_date=logical_date):
            found = client.find_dag_run(dag_id, logical_date)
            if found is None:
                return DagRunReply()
            return DagRunReply(run_id=found.run_id, state=str(found.state))
        case GetTaskStates(dag_id=dag_id, run_id=run_id, task_id=task_id):
            return TaskStatesReply(states=client.task_states(dag_id, run_id, task_id))
        case GetAssetEvents(uri=uri, limit=limit):
            return AssetEventsReply(events=client.asset_events(ti.id, uri, limit).events)
        case DeleteState(key=key, asset_uri=asset_uri):
            client.delete_state(ti.id, key, asset_uri)
            return Ack()
    raise AssertionError(f"unhandled request {type(request).__name__}")
