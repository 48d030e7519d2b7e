"""Time waits: fire once a moment has come.

``TimeDeltaTrigger(delta)`` is a ``DateTimeTrigger`` for now + ``delta``, fixed when the task
defers (so a trigger that moves to another triggerer keeps its moment). The event's payload is
the moment, as ISO 8601 text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from airlock.sdk.bases.trigger import BaseTrigger, TaskSuccessEvent, TriggerEvent


class DateTimeTrigger(BaseTrigger):
    def __init__(self, moment: datetime | str, *, end_from_trigger: bool = False) -> None:
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        if moment.tzinfo is None:
            raise ValueError(
                f"DateTimeTrigger needs a timezone-aware moment, got {moment.isoformat()}; "
                "pass e.g. datetime(..., tzinfo=UTC)"
            )
        self.moment = moment
        self.end_from_trigger = end_from_trigger

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airlock.sdk.triggers.temporal.DateTimeTrigger",
            {"moment": self.moment.isoformat(), "end_from_trigger": self.end_from_trigger},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import asyncio  # here: it runs in the triggerer's loop; task processes need not load it

        while (left := (self.moment - datetime.now(UTC)).total_seconds()) > 0:
            # Long sleeps in slices: a suspended host's clock jump is noticed within a minute.
            await asyncio.sleep(min(left, 60.0))
        payload = self.moment.isoformat()
        yield TaskSuccessEvent(payload) if self.end_from_trigger else TriggerEvent(payload)


class TimeDeltaTrigger(DateTimeTrigger):
    def __init__(self, delta: timedelta | float, *, end_from_trigger: bool = False) -> None:
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        super().__init__(
            datetime.now(UTC) + timedelta(seconds=seconds), end_from_trigger=end_from_trigger
        )
