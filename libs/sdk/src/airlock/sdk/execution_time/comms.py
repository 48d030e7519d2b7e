"""How task code reaches the Airlock API: one pluggable *comms* object per process.

``Variable.get``, ``Connection.get``, ``ti.xcom_push`` / ``xcom_pull``, the state stores and
``TriggerDagRunOperator`` never open connections themselves; they call the :class:`Comms`
object the runtime installed with :func:`set_comms`. The task runner installs one that talks to
the Execution API with the task's own token; the DAG processor one that talks to the Internal API
(variables and connections only, cached for one parse pass); tests install
:class:`airlock.sdk.testing.InMemoryComms`. User code therefore never sees a token or a URL, and
the same DAG file runs unchanged in all three places.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import msgspec

from airlock.models.secrets import ConnectionInfo
from airlock.sdk.exceptions import CommsUnavailableError


class ConnectionResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A connection as the API returns it (``extra`` is a JSON string)."""

    conn_id: str
    conn_type: str
    description: str | None = None
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    extra: str | None = None


def connection_result(info: ConnectionInfo | None) -> ConnectionResult | None:
    """A connection as a parent process relayed it, as task code gets it."""
    if info is None:
        return None
    return ConnectionResult(**msgspec.structs.asdict(info))


class StateScope(msgspec.Struct, frozen=True, kw_only=True):
    """Which state store a call means: the task instance's own, or (``asset_uri``) the store of
    an asset it declares."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    asset_uri: str | None = None


@runtime_checkable
class Comms(Protocol):
    """The calls task code may make; every method may raise on transport errors."""

    def get_variable(self, key: str) -> str | None:
        """The variable's stored string, or ``None`` if it does not exist."""

    def set_variable(self, key: str, value: str, description: str | None = None) -> None: ...

    def delete_variable(self, key: str) -> None: ...

    def get_connection(self, conn_id: str) -> ConnectionResult | None: ...

    def xcom_push(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, value: Any, map_index: int = -1
    ) -> None: ...

    def xcom_pull(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, map_index: int | None = None
    ) -> Any:
        """The value, or ``None`` if absent.

        ``map_index=None`` asks for the task's value if it is not mapped, or the list of its
        mapped instances' values (in map-index order) if it is.
        """

    def trigger_dag_run(
        self,
        *,
        dag_id: str,
        run_id: str,
        conf: dict[str, Any] | None = None,
        logical_date: datetime | None = None,
        reset_dag_run: bool = False,
    ) -> str:
        """Create a run of ``dag_id``; return its run id.

        Raises :class:`~airlock.sdk.exceptions.DagRunAlreadyExists` if ``run_id`` exists and
        ``reset_dag_run`` is false.
        """

    def get_dag_run_state(self, *, dag_id: str, run_id: str) -> str | None:
        """The run's state (``queued``, ``running``, ``success``, ``failed``), or ``None``."""

    def get_state(self, key: str, scope: StateScope) -> tuple[bool, Any]:
        """``(found, value)`` of ``key`` in the store ``scope`` names."""

    def set_state(self, key: str, value: Any, retention_s: float | None, scope: StateScope) -> None:
        """Store ``value``; ``retention_s=None`` keeps it until it is deleted."""

    def delete_state(self, key: str | None, scope: StateScope) -> None:
        """Delete ``key``, or every key of the store when ``key`` is None."""

    def find_dag_run(self, *, dag_id: str, logical_date: datetime) -> tuple[str, str] | None:
        """``(run_id, state)`` of ``dag_id``'s run for ``logical_date``, or None."""

    def get_task_states(self, *, dag_id: str, run_id: str, task_id: str) -> list[str | None]:
        """The states of ``task_id``'s instances in the run, by map index."""

    def asset_events(self, *, uri: str, limit: int = 100) -> list[Any]:
        """The latest ``limit`` events of a declared asset, oldest first, as
        :class:`airlock.models.execution.TriggeringAssetEvent`."""


_comms: Comms | None = None


def set_comms(comms: Comms | None) -> Comms | None:
    """Install ``comms`` for this process; return the previous one (to restore it later)."""
    global _comms
    previous, _comms = _comms, comms
    return previous


def get_comms(what: str = "this call") -> Comms:
    """The installed comms object; raises a clear error where there is none."""
    if _comms is None:
        raise CommsUnavailableError(
            f"{what} needs the Airlock API, which is only available inside a running task or "
            "while the DAG processor parses a file; in tests use "
            "airlock.sdk.testing.InMemoryComms with airlock.sdk.testing.use_comms(...)"
        )
    return _comms
