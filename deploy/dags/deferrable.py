"""Deferrable tasks: waits that free their worker slot and run in the triggerer instead.

``wait_a_moment`` hands an eight-second wait (from the run's logical date) to the triggerer (``TimeDeltaSensorAsync``);
``countdown`` defers to a trigger defined in this file and resumes on a worker in
``execute_complete`` with the trigger's event, whose payload becomes its XCom.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from airlock.sdk import DAG, BaseOperator, BaseTrigger, TriggerEvent, task
from airlock.sdk.sensors import TimeDeltaSensorAsync


class CountdownTrigger(BaseTrigger):
    """Counts down ``seconds`` without blocking the triggerer's event loop."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.CountdownTrigger", {"seconds": self.seconds}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        await asyncio.sleep(self.seconds)
        yield TriggerEvent({"counted": self.seconds})


class CountdownOperator(BaseOperator):
    def __init__(self, *, seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seconds = seconds

    def execute(self, context: Any) -> None:
        self.defer(
            trigger=CountdownTrigger(self.seconds),
            method_name="execute_complete",
            timeout=timedelta(minutes=5),
        )

    def execute_complete(self, context: Any, event: Any = None) -> Any:
        print(f"resumed after the countdown: {event}")
        return event


with DAG(
    dag_id="deferrable",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    tags=["example", "deferrable"],
):
    wait = TimeDeltaSensorAsync(task_id="wait_a_moment", delta=timedelta(seconds=8))
    countdown = CountdownOperator(task_id="countdown", seconds=1)

    @task
    def report(counted: dict[str, Any]) -> str:
        return f"waited, then counted {counted['counted']} s"

    wait >> countdown
    report(countdown.output)
