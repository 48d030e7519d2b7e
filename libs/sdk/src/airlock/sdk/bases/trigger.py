"""Base class of the event triggers an ``AssetWatcher`` runs in the triggerer.

A trigger is described by ``serialize() -> (classpath, kwargs)``: the triggerer imports
``classpath`` and calls it with ``kwargs`` to rebuild the trigger, so kwargs must be plain JSON.
``run()`` is an async generator that yields a :class:`TriggerEvent` per external event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any


class TriggerEvent:
    """Something a trigger observed; ``payload`` must be JSON-serializable."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TriggerEvent) and other.payload == self.payload

    def __hash__(self) -> int:
        return hash(repr(self.payload))

    def __repr__(self) -> str:
        return f"TriggerEvent({self.payload!r})"


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
