"""Payloads of the Internal API's trigger endpoints, which a triggerer (service token, role
``triggerer``) uses to run the triggers of deferred tasks (DESIGN §4.3, §8).

- ``POST /internal/triggers/lease`` (:class:`TriggerLeaseRequest` → :class:`TriggerLeaseBatch`):
  take up to ``limit`` free triggers of the token's bundles; each comes with its lease's
  ``epoch``.
- ``POST /internal/triggers/heartbeat`` (:class:`TriggerHeartbeat` →
  :class:`TriggerHeartbeatReply`): renew the leases held; the reply names those *lost* (the lease
  moved to another triggerer: stop running the trigger, do not clean up) and those *cancelled*
  (the task stopped waiting: stop it and run ``cleanup()``).
- ``POST /internal/triggers/events`` (:class:`TriggerEventBatch` → :class:`TriggerEventResults`):
  many triggers' events in one transaction, as a busy triggerer sends them;
- ``POST /internal/triggers/{id}/event`` (:class:`TriggerEventPost`) and
  ``POST /internal/triggers/{id}/failure`` (:class:`TriggerFailurePost`): the trigger fired or
  failed; the task resumes once. From a holder whose lease moved on: 409.
- ``POST /internal/triggers/release`` (:class:`TriggerRelease`): give leases back on shutdown.

The classpath and kwargs are opaque data to the server: it stores and returns them, never
imports or unpickles anything from them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from airlock.models.types import AwareDatetime

_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=250)]


class _Struct(msgspec.Struct, kw_only=True, frozen=True):
    pass


class TriggerLeaseRequest(_Struct, frozen=True, kw_only=True):
    triggerer: _Name
    #: How many more triggers the triggerer can run now.
    limit: Annotated[int, msgspec.Meta(ge=0, le=10_000)]


class HeldTrigger(_Struct, frozen=True, kw_only=True):
    id: int
    epoch: int


class LeasedTrigger(_Struct, frozen=True, kw_only=True):
    id: int
    epoch: int
    classpath: str
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)
    bundle: str
    #: The DAG file inside the bundle: a trigger class defined in it is loaded from there.
    dag_rel_path: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    ti_id: str
    try_number: int = 1


class TriggerLeaseBatch(_Struct, frozen=True, kw_only=True):
    triggers: list[LeasedTrigger]
    #: How long a lease lasts without a heartbeat.
    lease_s: float


class TriggerHeartbeat(_Struct, frozen=True, kw_only=True):
    triggerer: _Name
    held: list[HeldTrigger] = msgspec.field(default_factory=list)
    capacity: Annotated[int, msgspec.Meta(ge=0)] = 0
    #: Event-loop stalls seen since the triggerer started (a trigger blocking its loop).
    blocked_loops: Annotated[int, msgspec.Meta(ge=0)] = 0


class TriggerHeartbeatReply(_Struct, frozen=True, kw_only=True):
    lost: list[int] = msgspec.field(default_factory=list)
    cancelled: list[int] = msgspec.field(default_factory=list)
    lease_s: float


class TriggerEventPost(_Struct, frozen=True, kw_only=True):
    triggerer: _Name
    epoch: int
    #: Any JSON value: what the task's ``method_name`` receives as ``event``.
    payload: Any = None
    #: ``resume`` (a ``TriggerEvent``), or end the task at once: ``success`` / ``failed``.
    outcome: Literal["resume", "success", "failed"] = "resume"


class TriggerEventItem(_Struct, frozen=True, kw_only=True):
    id: int
    epoch: int
    payload: Any = None
    outcome: Literal["resume", "success", "failed"] = "resume"


class TriggerEventBatch(_Struct, frozen=True, kw_only=True):
    """Several triggers' events in one call (one transaction): how a busy triggerer posts."""

    triggerer: _Name
    events: Annotated[list[TriggerEventItem], msgspec.Meta(max_length=1000)]


class TriggerEventResults(_Struct, frozen=True, kw_only=True):
    #: The triggers whose task resumed (now, or by an identical earlier call).
    accepted: list[int] = msgspec.field(default_factory=list)
    #: The triggers no longer the caller's to fire (lease moved on, task stopped waiting, or
    #: another bundle's): drop them.
    refused: list[int] = msgspec.field(default_factory=list)


class TriggerFailurePost(_Struct, frozen=True, kw_only=True):
    triggerer: _Name
    epoch: int
    error: Annotated[str, msgspec.Meta(max_length=10_000)]
    traceback: Annotated[str, msgspec.Meta(max_length=100_000)] | None = None


class TriggerFired(_Struct, frozen=True, kw_only=True):
    """The task resumed (now, or by an identical earlier call of the same holder)."""

    trigger_id: int
    ti_id: str
    fired_at: AwareDatetime


class TriggerRelease(_Struct, frozen=True, kw_only=True):
    triggerer: _Name
    held: list[HeldTrigger] = msgspec.field(default_factory=list)


class TriggersReleased(_Struct, frozen=True, kw_only=True):
    released: int
