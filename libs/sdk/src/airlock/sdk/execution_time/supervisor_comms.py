"""The task process's side of the channel, and the :class:`Comms` that speaks over it.

Inside a worker's task process, ``Variable.get``, ``ti.xcom_push`` and friends end up here: each
call becomes one request frame to the supervisor (:mod:`airlock.sdk.execution_time.protocol`),
which makes the Execution API call with the token only it holds and answers with the result.
Task code may use threads, so one request and its reply hold the channel together.
"""

from __future__ import annotations

import socket
import threading
from datetime import datetime
from typing import Any

import msgspec

from airlock.models.execution import TaskInstanceRef
from airlock.sdk.exceptions import (
    AirlockException,
    AirlockNotFoundException,
    DagRunAlreadyExists,
)
from airlock.sdk.execution_time.comms import ConnectionResult, StateScope, connection_result
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
    encode_frame,
    read_frame,
    to_task_decoder,
)
from airlock.sdk.timezone import json_enc_hook, to_stdlib


class SupervisorGone(AirlockException):
    """The supervisor closed the channel: the worker stopped or killed this task."""


class TaskChannel:
    """Frames to and from the supervisor over the task's end of the socket pair."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader = sock.makefile("rb")
        self._lock = threading.Lock()

    def send(self, message: msgspec.Struct) -> None:
        self._sock.sendall(encode_frame(message))

    def receive(self) -> ToTask:
        try:
            return to_task_decoder.decode(read_frame(self._reader))
        except (EOFError, ConnectionError) as exc:
            raise SupervisorGone(
                "the worker's supervisor closed this task's channel (the worker stopped or "
                "killed the task)"
            ) from exc

    def request(self, message: TaskRequest) -> ToTask:
        """Send one request and return its reply; an :class:`ErrorReply` is raised."""
        with self._lock:
            self.send(message)
            reply = self.receive()
        if isinstance(reply, ErrorReply):
            raise _error(reply, message)
        return reply


def _error(reply: ErrorReply, request: TaskRequest) -> AirlockException:
    what = type(request).__name__
    if reply.reason == "not_found":
        return AirlockNotFoundException(reply.message)
    if reply.reason == "already_exists":
        return DagRunAlreadyExists(reply.message)
    return AirlockException(f"{what} failed: {reply.message}")


def _expect(reply: ToTask, kind: type[Any]) -> Any:
    if not isinstance(reply, kind):
        raise AirlockException(
            f"the supervisor answered with {type(reply).__name__}, expected {kind.__name__}; "
            "the worker and the task runner disagree on the protocol"
        )
    return reply


class SupervisorComms:
    """:class:`~airlock.sdk.execution_time.comms.Comms` for a task run by a worker."""

    def __init__(self, channel: TaskChannel, ti: TaskInstanceRef) -> None:
        self._channel = channel
        self._ti = ti

    def get_variable(self, key: str) -> str | None:
        reply = _expect(self._channel.request(GetVariable(key=key)), VariableReply)
        return reply.value

    def set_variable(self, key: str, value: str, description: str | None = None) -> None:
        _expect(
            self._channel.request(SetVariable(key=key, value=value, description=description)), Ack
        )

    def delete_variable(self, key: str) -> None:
        _expect(self._channel.request(DeleteVariable(key=key)), Ack)

    def get_connection(self, conn_id: str) -> ConnectionResult | None:
        reply = _expect(self._channel.request(GetConnection(conn_id=conn_id)), ConnectionReply)
        return connection_result(reply.connection)

    def xcom_push(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, value: Any, map_index: int = -1
    ) -> None:
        self._own("push XComs", dag_id, run_id, task_id, map_index)
        try:
            # The API stores JSON: a value that would not survive the trip fails here, in the
            # task, with the task's own traceback.
            value = msgspec.json.decode(msgspec.json.encode(value, enc_hook=json_enc_hook))
        except (TypeError, msgspec.EncodeError) as exc:
            raise TypeError(
                f"XCom {key!r} of task {task_id!r} is not JSON-serializable: {exc}; return or "
                "push only JSON values (dicts, lists, str, numbers, bool, None, datetimes)"
            ) from None
        _expect(self._channel.request(PushXCom(key=key, value=value)), Ack)

    def _own(self, what: str, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        ti = self._ti
        if (dag_id, run_id, task_id, map_index) != (ti.dag_id, ti.run_id, ti.task_id, ti.map_index):
            raise AirlockException(
                f"a task may {what} only for itself ({ti.dag_id}.{ti.task_id} in run "
                f"{ti.run_id}, map index {ti.map_index}), not for {dag_id}.{task_id} in run "
                f"{run_id}, map index {map_index}"
            )

    def _own_store(self, scope: StateScope) -> None:
        self._own("use a state store", scope.dag_id, scope.run_id, scope.task_id, scope.map_index)

    def get_state(self, key: str, scope: StateScope) -> tuple[bool, Any]:
        self._own_store(scope)
        request = GetState(key=key, asset_uri=scope.asset_uri)
        reply = _expect(self._channel.request(request), StateReply)
        return reply.found, reply.value

    def set_state(self, key: str, value: Any, retention_s: float | None, scope: StateScope) -> None:
        self._own_store(scope)
        request = SetState(key=key, value=value, retention_s=retention_s, asset_uri=scope.asset_uri)
        _expect(self._channel.request(request), Ack)

    def delete_state(self, key: str | None, scope: StateScope) -> None:
        self._own_store(scope)
        _expect(self._channel.request(DeleteState(key=key, asset_uri=scope.asset_uri)), Ack)

    def xcom_pull(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, map_index: int | None = None
    ) -> Any:
        request = PullXCom(
            dag_id=dag_id, run_id=run_id, task_id=task_id, key=key, map_index=map_index
        )
        return _expect(self._channel.request(request), XComReply).value

    def trigger_dag_run(
        self,
        *,
        dag_id: str,
        run_id: str,
        conf: dict[str, Any] | None = None,
        logical_date: datetime | None = None,
        reset_dag_run: bool = False,
    ) -> str:
        request = TriggerRun(
            dag_id=dag_id,
            run_id=run_id,
            conf=dict(conf or {}),
            logical_date=logical_date,
            reset_dag_run=reset_dag_run,
        )
        reply = _expect(self._channel.request(request), DagRunReply)
        return reply.run_id or run_id

    def get_dag_run_state(self, *, dag_id: str, run_id: str) -> str | None:
        reply = _expect(
            self._channel.request(GetDagRunState(dag_id=dag_id, run_id=run_id)), DagRunReply
        )
        return reply.state

    def asset_events(self, *, uri: str, limit: int = 100) -> list[Any]:
        reply = _expect(
            self._channel.request(GetAssetEvents(uri=uri, limit=limit)), AssetEventsReply
        )
        return list(reply.events)

    def find_dag_run(self, *, dag_id: str, logical_date: datetime) -> tuple[str, str] | None:
        # A pendulum DateTime (what the context hands out) does not encode: send the stdlib one.
        request = FindDagRun(dag_id=dag_id, logical_date=to_stdlib(logical_date))
        reply = _expect(self._channel.request(request), DagRunReply)
        if reply.run_id is None:
            return None
        return reply.run_id, str(reply.state)

    def get_task_states(self, *, dag_id: str, run_id: str, task_id: str) -> list[str | None]:
        request = GetTaskStates(dag_id=dag_id, run_id=run_id, task_id=task_id)
        return list(_expect(self._channel.request(request), TaskStatesReply).states)
