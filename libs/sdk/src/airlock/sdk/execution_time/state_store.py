"""``context["task_state_store"]`` and ``context["asset_state_store"]``: Airflow 3.3's key/value
stores for running tasks.

- The **task state store** belongs to one task instance (DAG, run, task, map index): what one try
  writes, the next try of the same instance reads (a submitted job's id, a checkpoint). A key
  lives ``DEFAULT_TASK_STATE_RETENTION`` (30 days, Airflow's default) unless ``set`` says
  otherwise; ``retention=NEVER_EXPIRE`` keeps it until it is deleted.
- The **asset state store** belongs to an asset the task declares as an inlet or outlet, as the
  task's bundle sees it, and outlives runs (a watermark, a cursor). Keys never expire unless
  ``set`` gives a retention. With one declared asset, call ``get``/``set`` on the store itself;
  with several, pick one: ``context["asset_state_store"][orders].get("watermark")``.

Values must be JSON documents. Every call goes through the installed comms (the worker's
supervisor, which holds the task's token; ``InMemoryComms`` in tests), so the Execution API
decides what the task may touch.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from airlock.sdk.execution_time.comms import StateScope, get_comms
from airlock.sdk.timezone import json_enc_hook

if TYPE_CHECKING:
    from airlock.sdk.definitions.asset import Asset
    from airlock.sdk.execution_time.context import RuntimeTaskInstance


class _NeverExpire(enum.Enum):
    NEVER_EXPIRE = "NEVER_EXPIRE"

    def __repr__(self) -> str:
        return "NEVER_EXPIRE"


#: ``store.set(key, value, retention=NEVER_EXPIRE)``: keep the key until it is deleted.
NEVER_EXPIRE = _NeverExpire.NEVER_EXPIRE

#: How long a task-state key lives when ``set`` gives no retention.
DEFAULT_TASK_STATE_RETENTION = timedelta(days=30)

Retention = timedelta | _NeverExpire | None


def _retention_s(retention: Retention, default: timedelta | None) -> float | None:
    if retention is None:
        retention = default if default is not None else NEVER_EXPIRE
    if retention is NEVER_EXPIRE:
        return None
    if not isinstance(retention, timedelta):
        raise TypeError(
            f"retention must be a datetime.timedelta, NEVER_EXPIRE or None, got "
            f"{type(retention).__name__}: {retention!r}"
        )
    seconds = retention.total_seconds()
    if seconds <= 0:
        raise ValueError(
            f"retention must be positive, got {retention!r}; use delete(key) to drop a key now"
        )
    return seconds


def _json(key: str, value: Any) -> Any:
    if value is None:
        raise ValueError(f"state-store key {key!r}: None cannot be stored; use delete({key!r})")
    try:
        return msgspec.json.decode(msgspec.json.encode(value, enc_hook=json_enc_hook))
    except (TypeError, msgspec.EncodeError) as exc:
        raise TypeError(
            f"state-store key {key!r}: the value is not JSON-serializable ({exc}); store dicts, "
            "lists, str, numbers, bool or datetimes"
        ) from None


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key or "/" in key or len(key) > 512:
        raise ValueError(
            f"state-store key {key!r} is not valid: use a non-empty string of at most 512 "
            "characters without '/'"
        )


class _Store:
    """get / set / delete / clear against one store the comms object names by ``scope``."""

    _default_retention: timedelta | None = None

    _ti: RuntimeTaskInstance
    #: The asset whose store this is; None: the task instance's own.
    _asset_uri: str | None = None

    def _scope(self) -> StateScope:
        ti = self._ti
        return StateScope(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index,
            asset_uri=self._asset_uri,
        )

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` when there is none (or it expired)."""
        _check_key(key)
        found, value = get_comms("the state store").get_state(key, self._scope())
        return value if found else default

    def set(self, key: str, value: Any, retention: Retention = None) -> None:
        """Store ``value`` under ``key``, replacing what was there. ``retention``: a
        ``timedelta``, ``NEVER_EXPIRE``, or None for the store's default."""
        _check_key(key)
        get_comms("the state store").set_state(
            key,
            _json(key, value),
            _retention_s(retention, self._default_retention),
            self._scope(),
        )

    def delete(self, key: str) -> None:
        """Delete ``key``; a key that is not there is already deleted."""
        _check_key(key)
        get_comms("the state store").delete_state(key, self._scope())

    def clear(self) -> None:
        """Delete every key of this store."""
        get_comms("the state store").delete_state(None, self._scope())


class TaskStateStore(_Store):
    """The running task instance's own store, kept across its tries."""

    _default_retention = DEFAULT_TASK_STATE_RETENTION

    def __init__(self, ti: RuntimeTaskInstance) -> None:
        self._ti = ti

    def __repr__(self) -> str:
        return f"TaskStateStore({self._ti!r})"


class AssetStateStore(_Store):
    """One asset's store, kept across runs."""

    def __init__(self, ti: RuntimeTaskInstance, asset: Asset) -> None:
        self._ti = ti
        self.asset = asset
        self._asset_uri = asset.uri

    def __repr__(self) -> str:
        return f"AssetStateStore({self.asset.name!r})"


class AssetStateStores(Mapping["Asset | str", AssetStateStore]):
    """``context["asset_state_store"]``: the store of each concrete asset the task declares as
    an inlet or outlet, by ``Asset`` or by name; with only one, also that store itself."""

    def __init__(self, ti: RuntimeTaskInstance, assets: list[Asset]) -> None:
        self._stores: dict[str, AssetStateStore] = {}
        for a in assets:
            self._stores.setdefault(a.uri, AssetStateStore(ti, a))

    def __getitem__(self, key: Asset | str) -> AssetStateStore:
        if not isinstance(key, str):
            uri = getattr(key, "uri", None)
            if uri in self._stores:
                return self._stores[uri]
        else:
            for store in self._stores.values():
                if key in (store.asset.name, store.asset.uri):
                    return store
        declared = ", ".join(repr(s.asset.name) for s in self._stores.values())
        raise KeyError(
            f"{key!r} is not an inlet or outlet of this task (its assets: {declared}); a task "
            "reaches only the state stores of the assets it declares"
        )

    def __iter__(self) -> Iterator[Asset | str]:
        return iter([s.asset for s in self._stores.values()])

    def __len__(self) -> int:
        return len(self._stores)

    def _only(self, what: str) -> AssetStateStore:
        if len(self._stores) != 1:
            names = ", ".join(repr(s.asset.name) for s in self._stores.values())
            raise TypeError(
                f"this task declares {len(self._stores)} assets ({names}); pick one before "
                f"calling {what}: context['asset_state_store'][asset].{what}(...)"
            )
        return next(iter(self._stores.values()))

    def get(self, key: Any, default: Any = None) -> Any:
        return self._only("get").get(key, default)

    def set(self, key: str, value: Any, retention: Retention = None) -> None:
        self._only("set").set(key, value, retention)

    def delete(self, key: str) -> None:
        self._only("delete").delete(key)

    def clear(self) -> None:
        self._only("clear").clear()

    def __repr__(self) -> str:
        return f"AssetStateStores({[s.asset.name for s in self._stores.values()]})"
