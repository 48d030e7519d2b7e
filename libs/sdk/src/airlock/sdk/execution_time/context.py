"""Building a running task's context, and the ``ti`` object task code talks to.

The runtime (the worker's task runner, or :mod:`airlock.sdk.testing`) describes the run with
the Execution API's :class:`~airlock.models.execution.DagRunInfo` (``{{ dag_run }}``) and the
events that triggered it, wraps the task instance in a :class:`RuntimeTaskInstance`, builds the
context with :func:`build_context` and runs the task inside :func:`set_current_context` so that
``get_current_context()`` works from anywhere in task code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from airlock.models.execution import DagRunInfo
from airlock.sdk.definitions import macros
from airlock.sdk.definitions.asset import Asset, AssetAlias
from airlock.sdk.definitions.connection import Connection
from airlock.sdk.definitions.param import NOTSET, ParamsDict
from airlock.sdk.definitions.variable import Variable
from airlock.sdk.definitions.xcom_arg import RETURN_VALUE_KEY
from airlock.sdk.exceptions import AirlockSdkError, ParamValidationError
from airlock.sdk.execution_time.comms import get_comms
from airlock.sdk.execution_time.state_store import AssetStateStores, TaskStateStore
from airlock.sdk.timezone import coerce_datetime

if TYPE_CHECKING:
    from airlock.sdk.definitions.abstractoperator import AbstractOperator
    from airlock.sdk.definitions.context import Context


@dataclass(frozen=True)
class TriggeringAssetEvent:
    """An asset event that triggered this run (Airflow 3's ``AssetEventDagRunReference``).

    ``source_*`` name the task try that emitted it; they are None for an event pushed from
    outside (the Web API's create-asset-event endpoint).
    """

    asset: Asset
    timestamp: datetime
    extra: dict[str, Any] = field(default_factory=dict)
    source_dag_id: str | None = None
    source_task_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int | None = None


class TriggeringAssetEventsAccessor(Mapping[Asset, list[TriggeringAssetEvent]]):
    """``context["triggering_asset_events"]``: per asset, the events that triggered the run,
    oldest first; empty unless the run is asset-triggered.

    Index it with an ``Asset`` (matched by URI) or with a URI or name::

        for event in triggering_asset_events[Asset(uri="s3://warehouse/orders")]:
            print(event.source_dag_id, event.extra)
    """

    def __init__(self, events: Iterable[TriggeringAssetEvent] = ()) -> None:
        self._by_uri: dict[str, tuple[Asset, list[TriggeringAssetEvent]]] = {}
        for event in events:
            self._by_uri.setdefault(event.asset.uri, (event.asset, []))[1].append(event)

    def __getitem__(self, key: Asset | str) -> list[TriggeringAssetEvent]:
        if isinstance(key, Asset):
            uri = self._uri_of_name(key.name) if key.name_only else key.uri
        elif isinstance(key, str):
            uri = key if key in self._by_uri else self._uri_of_name(key)
        else:
            raise KeyError(f"triggering_asset_events is keyed by Asset, URI or name; got {key!r}")
        if uri not in self._by_uri:
            raise KeyError(
                f"no event of asset {key!r} triggered this run; it was triggered by "
                f"{sorted(self._by_uri) or 'no asset event'}"
            )
        return self._by_uri[uri][1]

    def _uri_of_name(self, name: str) -> str:
        for uri, (asset, _) in self._by_uri.items():
            if asset.name == name:
                return uri
        return name

    def __iter__(self) -> Iterator[Asset]:
        return (asset for asset, _ in self._by_uri.values())

    def __len__(self) -> int:
        return len(self._by_uri)

    def __repr__(self) -> str:
        counts = {asset.uri: len(events) for asset, events in self._by_uri.values()}
        return f"TriggeringAssetEventsAccessor({counts})"


class RuntimeTaskInstance:
    """The running try of a task (``ti`` / ``task_instance``): identity and XCom access."""

    def __init__(
        self,
        *,
        task: AbstractOperator,
        dag_id: str,
        run_id: str,
        map_index: int = -1,
        try_number: int = 1,
        start_date: datetime | None = None,
        first_poke_at: datetime | None = None,
        logical_date: datetime | None = None,
    ) -> None:
        self.task = task
        self.task_id = task.task_id
        self.dag_id = dag_id
        self.run_id = run_id
        self.map_index = map_index
        self.try_number = try_number
        self.start_date = start_date
        self.logical_date = logical_date
        #: When a rescheduling sensor first poked (its timeout counts from there).
        self.first_poke_at = first_poke_at

    def xcom_push(self, key: str, value: Any) -> None:
        if "/" in key:
            # The key travels as one segment of the Execution API's URL path.
            raise ValueError(
                f"XCom key {key!r} contains '/', which an XCom key cannot hold; use another "
                "separator (a task returning a dict pushes each of its keys as an XCom when it "
                "has multiple_outputs)"
            )
        get_comms("ti.xcom_push").xcom_push(
            dag_id=self.dag_id,
            run_id=self.run_id,
            task_id=self.task_id,
            key=key,
            value=value,
            map_index=self.map_index,
        )

    def xcom_pull(
        self,
        task_ids: str | list[str] | tuple[str, ...] | None = None,
        dag_id: str | None = None,
        key: str = RETURN_VALUE_KEY,
        include_prior_dates: bool = False,
        *,
        map_indexes: int | None = None,
        default: Any = None,
        run_id: str | None = None,
    ) -> Any:
        """One value for one task id, a list of values for a list of task ids.

        ``task_ids=None`` means this task. A mapped upstream's values come back as a list.
        """
        comms = get_comms("ti.xcom_pull")
        ids = self.task_id if task_ids is None else task_ids
        single = isinstance(ids, str)
        values = []
        for task_id in [ids] if isinstance(ids, str) else ids:
            value = comms.xcom_pull(
                dag_id=dag_id or self.dag_id,
                run_id=run_id or self.run_id,
                task_id=task_id,
                key=key,
                map_index=map_indexes,
            )
            values.append(default if value is None else value)
        return values[0] if single else values

    def __repr__(self) -> str:
        return f"<TaskInstance: {self.dag_id}.{self.task_id} {self.run_id} [{self.map_index}]>"


class _VariableAccessor:
    """``{{ var.value.key }}`` / ``{{ var.json.key }}`` / ``{{ var.value.get('k', 'd') }}``."""

    def __init__(self, deserialize_json: bool) -> None:
        self._json = deserialize_json

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return Variable.get(key, deserialize_json=self._json)

    def get(self, key: str, default: Any = NOTSET) -> Any:
        return Variable.get(key, default=default, deserialize_json=self._json)


class _VarNamespace:
    value = _VariableAccessor(deserialize_json=False)
    json = _VariableAccessor(deserialize_json=True)


class _ConnectionAccessor:
    """``{{ conn.my_conn.host }}``."""

    def __getattr__(self, conn_id: str) -> Connection:
        if conn_id.startswith("__"):
            raise AttributeError(conn_id)
        return Connection.get(conn_id)

    def get(self, conn_id: str, default: Any = None) -> Any:
        try:
            return Connection.get(conn_id)
        except Exception:
            return default


class OutletEventAccessor:
    """What a task attaches to the event of one outlet: ``extra``, and assets for an alias."""

    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}
        self.asset_alias_events: list[tuple[Asset, dict[str, Any]]] = []

    def add(self, asset: Asset, extra: dict[str, Any] | None = None) -> None:
        """Attach a concrete asset event to this alias outlet."""
        self.asset_alias_events.append((asset, dict(extra or {})))


class OutletEventAccessors:
    """``outlet_events[asset].extra["rows"] = 3`` / ``outlet_events[alias].add(asset)``.

    The runtime reads :attr:`events` after the task succeeded and reports them with its
    outlets' asset events.
    """

    def __init__(self) -> None:
        self.events: dict[Asset | AssetAlias, OutletEventAccessor] = {}

    def __getitem__(self, key: Asset | AssetAlias) -> OutletEventAccessor:
        if not isinstance(key, Asset | AssetAlias):
            raise KeyError(f"outlet_events is keyed by Asset or AssetAlias, got {key!r}")
        return self.events.setdefault(key, OutletEventAccessor())

    def __contains__(self, key: object) -> bool:
        return key in self.events


class InletEventsAccessors(Mapping[Asset, list[TriggeringAssetEvent]]):
    """``inlet_events[asset]``: the latest events of an inlet asset, oldest first (so ``[-1]``
    is the newest), read from the API on first use (at most :attr:`limit`)."""

    limit = 100

    def __init__(self, inlets: Iterable[Any]) -> None:
        self._assets = {a.uri: a for a in inlets if isinstance(a, Asset)}
        self._fetched: dict[str, list[TriggeringAssetEvent]] = {}

    def _asset(self, key: Asset | str) -> Asset:
        if isinstance(key, Asset) and key.uri in self._assets:
            return self._assets[key.uri]
        if isinstance(key, str):
            for asset in self._assets.values():
                if key in (asset.name, asset.uri):
                    return asset
        names = ", ".join(repr(a.name) for a in self._assets.values()) or "none"
        raise KeyError(f"{key!r} is not an inlet asset of this task (its inlets: {names})")

    def __getitem__(self, key: Asset | str) -> list[TriggeringAssetEvent]:
        asset = self._asset(key)
        if asset.uri not in self._fetched:
            events = get_comms("inlet_events").asset_events(uri=asset.uri, limit=self.limit)
            self._fetched[asset.uri] = [
                TriggeringAssetEvent(
                    asset=asset,
                    timestamp=coerce_datetime(e.timestamp),
                    extra=dict(e.extra),
                    source_dag_id=e.source_dag_id,
                    source_task_id=e.source_task_id,
                    source_run_id=e.source_run_id,
                    source_map_index=e.source_map_index,
                )
                for e in events
            ]
        return self._fetched[asset.uri]

    def __iter__(self) -> Iterator[Asset]:
        return iter(list(self._assets.values()))

    def __len__(self) -> int:
        return len(self._assets)

    def __repr__(self) -> str:
        return f"InletEventsAccessors({[a.name for a in self._assets.values()]})"


def run_params(task: AbstractOperator, conf: Mapping[str, Any]) -> dict[str, Any]:
    """The DAG's params, overridden by the task's, then by the run's conf (every key of it, as
    Airflow does), each checked against its schema: a plain ``dict``, as Airflow 3 hands it."""
    params = task.dag.params.copy() if task.dag is not None else ParamsDict()
    params.update(task.params)
    try:
        params.update(conf)
        return params.validate()
    except ParamValidationError as exc:
        raise ParamValidationError(
            f"DAG '{task.dag_id}': {exc}; fix the run's conf or the param's default"
        ) from None


def build_context(
    task: AbstractOperator,
    ti: RuntimeTaskInstance,
    dag_run: DagRunInfo,
    triggering_asset_events: TriggeringAssetEventsAccessor | None = None,
) -> Context:
    """The context ``task`` runs with, keyed by Airflow's names; its dates (and the
    ``dag_run``'s) are pendulum ``DateTime`` objects, as in Airflow 3."""
    dag_run = _with_pendulum_dates(dag_run)
    context: Context = {
        "dag": task.dag,  # type: ignore[typeddict-item]
        "task": task,
        "ti": ti,
        "task_instance": ti,
        "run_id": dag_run.run_id,
        "dag_run": dag_run,
        "conf": dag_run.conf,
        "params": run_params(task, dag_run.conf),
        "data_interval_start": dag_run.data_interval_start,
        "data_interval_end": dag_run.data_interval_end,
        "task_instance_key_str": f"{ti.dag_id}__{ti.task_id}__{dag_run.run_id}",
        "inlets": list(getattr(task, "inlets", [])),
        "outlets": list(getattr(task, "outlets", [])),
        "var": _VarNamespace(),
        "conn": _ConnectionAccessor(),
        "macros": macros,
        "triggering_asset_events": triggering_asset_events or TriggeringAssetEventsAccessor(),
        "outlet_events": OutletEventAccessors(),
        "templates_dict": None,
        "task_state_store": TaskStateStore(ti),
        "inlet_events": InletEventsAccessors(getattr(task, "inlets", [])),
    }
    assets = [
        a
        for a in (*getattr(task, "inlets", []), *getattr(task, "outlets", []))
        if isinstance(a, Asset)
    ]
    if assets:
        # Absent (a KeyError) for a task without assets, as in Airflow.
        context["asset_state_store"] = AssetStateStores(ti, assets)
    logical_date = dag_run.logical_date
    if logical_date is not None:
        context["logical_date"] = logical_date
        context["ds"] = logical_date.strftime("%Y-%m-%d")
        context["ds_nodash"] = logical_date.strftime("%Y%m%d")
        context["ts"] = logical_date.isoformat()
        context["ts_nodash"] = logical_date.strftime("%Y%m%dT%H%M%S")
        context["ts_nodash_with_tz"] = logical_date.isoformat().replace("-", "").replace(":", "")
    return context


def _with_pendulum_dates(dag_run: DagRunInfo) -> DagRunInfo:
    dates = {
        name: coerce_datetime(getattr(dag_run, name))
        for name in _RUN_DATES
        if getattr(dag_run, name) is not None
    }
    return msgspec.structs.replace(dag_run, **dates)


_RUN_DATES = (
    "logical_date",
    "data_interval_start",
    "data_interval_end",
    "run_after",
    "start_date",
    "end_date",
)

_context_stack: list[Context] = []


@contextlib.contextmanager
def set_current_context(context: Context) -> Iterator[Context]:
    """Make ``context`` what ``get_current_context()`` returns while the block runs."""
    _context_stack.append(context)
    try:
        yield context
    finally:
        _context_stack.pop()


def current_context() -> Context:
    if not _context_stack:
        raise AirlockSdkError(
            "get_current_context() is only available inside a running task; in tests run the "
            "task with airlock.sdk.testing.run_task(...)"
        )
    return _context_stack[-1]
