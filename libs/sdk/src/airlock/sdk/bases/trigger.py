"""Base classes of triggers: the async waits a deferred task or an ``AssetWatcher`` hands to the
triggerer.

A trigger is described by ``serialize() -> (classpath, kwargs)``: the triggerer imports
``classpath`` (from the DAG's bundle, as a worker loads tasks) and calls it with ``kwargs`` to
rebuild the trigger, so kwargs must be plain JSON. ``run()`` is an async generator that yields
:class:`TriggerEvent`\\ s. For a deferred task, the first event resumes the task: its
``method_name(context, event)`` runs on a worker with the event's payload. A
:class:`TaskSuccessEvent` or :class:`TaskFailedEvent` ends the task instead, without running
any more of its code. ``cleanup()`` runs when the trigger ends or its task stops waiting (cleared,
marked, timed out), never because another triggerer took the trigger over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any


class TriggerEvent:
    """Something a trigger observed; ``payload`` must be JSON-serializable."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, TriggerEvent)
            and type(other) is type(self)
            and (other.payload == self.payload)
        )

    def __hash__(self) -> int:
        return hash(repr(self.payload))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.payload!r})"


class TaskSuccessEvent(TriggerEvent):
    """Ends the deferred task as ``success`` without resuming it on a worker."""

    def __init__(self, payload: Any = None) -> None:
        super().__init__(payload)


class TaskFailedEvent(TriggerEvent):
    """Ends the deferred task as ``failed`` without resuming it on a worker."""

    def __init__(self, payload: Any = None) -> None:
        super().__init__(payload)


class BaseTrigger:
    """An async waiter the triggerer runs; subclasses implement ``serialize`` and ``run``."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError(f"{type(self).__name__} must implement serialize()")

    async def run(self) -> AsyncIterator[TriggerEvent]:
        raise NotImplementedError(f"{type(self).__name__} must implement run()")
        yield  # pragma: no cover - makes this an async generator

    async def cleanup(self) -> None:
        """Release resources when the trigger is stopped."""


class ExternalEvent(TriggerEvent):
    """One message from an external system, for an ``AssetWatcher``: it becomes one asset event
    with ``extra``. ``dedup_key`` is the source's identity of the message (a stream entry id, a
    JetStream sequence, an offset, a file's path+mtime+size, a cursor value): a redelivered
    message with the same key is recognised and makes no second event."""

    def __init__(self, dedup_key: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(dict(extra or {}))
        self.dedup_key = str(dedup_key)

    def __repr__(self) -> str:
        return f"ExternalEvent({self.dedup_key!r}, {self.payload!r})"


class EventBatch(TriggerEvent):
    """Several :class:`ExternalEvent`\\ s yielded at once (what one read from a broker
    returned); stored in one call."""

    def __init__(self, events: list[ExternalEvent]) -> None:
        super().__init__(None)
        self.events = list(events)

    def __repr__(self) -> str:
        return f"EventBatch({len(self.events)} events)"


class SourceStatus:
    """What an event trigger yields to say how its source is doing; shown as the watcher's
    status (``running``, ``reconnecting`` with the error, ``lag`` = messages waiting)."""

    def __init__(
        self, state: str = "running", *, lag: int | None = None, error: str | None = None
    ) -> None:
        if state not in ("running", "reconnecting", "failed"):
            raise ValueError(f"state must be running, reconnecting or failed, got {state!r}")
        self.state = state
        self.lag = lag
        self.error = error

    def __repr__(self) -> str:
        return f"SourceStatus({self.state!r}, lag={self.lag!r}, error={self.error!r})"


class BaseEventTrigger(BaseTrigger):
    """A trigger usable in an ``AssetWatcher``: it reports external events, one per event, and
    runs for as long as its triggerer holds the watcher.

    **Persist, then ack.** ``run()`` yields an :class:`ExternalEvent` (or an
    :class:`EventBatch`) and is resumed only once the Internal API has stored every event it
    holds (or found it a duplicate): acknowledge the source *after* the ``yield``. A trigger
    stopped meanwhile (its triggerer killed, its lease lost) never resumes, so the source
    redelivers the message to whoever runs the watcher next. Yield a :class:`SourceStatus` to
    report the source's state; that ``yield`` resumes at once. A state-style trigger (a file
    exists, a row exists) yields once per change, never again for a state that merely persists.

    Broker credentials come from Airlock connections: name them by ``conn_id`` (or
    ``*_conn_id``) in the kwargs and read them with :meth:`get_connection`; the triggerer
    fetches them for the watcher's bundle.
    """

    #: conn_id → the connection the triggerer fetched for this watcher (set before ``run()``).
    connections: dict[str, Any] = {}

    def get_connection(self, conn_id: str) -> Any:
        """The :class:`~airlock.sdk.Connection` ``conn_id``, as the triggerer fetched it."""
        found = self.connections.get(conn_id)
        if found is None:
            raise LookupError(
                f"connection {conn_id!r} is not defined for this watcher's bundle; create it "
                f"(airlock connections add {conn_id} …) and name it in a kwarg called conn_id "
                "or ending in _conn_id"
            )
        return found


def classpath_of(trigger: BaseTrigger) -> str:
    """``module.Class`` of ``trigger``, what ``serialize()`` usually returns first."""
    cls = type(trigger)
    return f"{cls.__module__}.{cls.__qualname__}"
