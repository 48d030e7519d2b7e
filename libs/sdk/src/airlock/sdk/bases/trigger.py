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


class BaseEventTrigger(BaseTrigger):
    """A trigger usable in an ``AssetWatcher``: it reports external events, one per event."""


def classpath_of(trigger: BaseTrigger) -> str:
    """``module.Class`` of ``trigger``, what ``serialize()`` usually returns first."""
    cls = type(trigger)
    return f"{cls.__module__}.{cls.__qualname__}"
