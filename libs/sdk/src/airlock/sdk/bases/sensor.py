"""BaseSensorOperator: wait until a condition holds, by poking.

``mode="poke"`` keeps the worker slot and sleeps ``poke_interval`` between pokes;
``mode="reschedule"`` pokes once per try and, while the condition is false, raises
:class:`~airlock.sdk.exceptions.RescheduleRequested` so the runtime frees the slot and the
scheduler runs the task again later. Either way the sensor fails with
:class:`~airlock.sdk.exceptions.AirlockSensorTimeout` (or skips, with ``soft_fail=True``) once
``timeout`` seconds have passed since the first poke.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airlock.models.dag import SensorMode
from airlock.sdk.definitions.baseoperator import BaseOperator
from airlock.sdk.exceptions import (
    AirlockSensorTimeout,
    AirlockSkipException,
    DagDefinitionError,
    RescheduleRequested,
)


@dataclass
class PokeReturnValue:
    """What ``poke`` may return instead of a bool, to also push an XCom value when done."""

    is_done: bool
    xcom_value: Any = None

    def __bool__(self) -> bool:
        return self.is_done


def _seconds(value: Any, name: str, sensor: BaseOperator) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise DagDefinitionError(
        f"{name} must be a non-negative number of seconds or a timedelta, got {value!r}",
        dag_id=sensor.dag.dag_id if sensor.dag else None,
        task_id=sensor.task_id,
    )


class BaseSensorOperator(BaseOperator):
    """Subclasses implement :meth:`poke`."""

    ui_color = "#e6f1f2"

    def __init__(
        self,
        *,
        poke_interval: float | timedelta = 60,
        timeout: float | timedelta = 7 * 24 * 60 * 60,
        soft_fail: bool = False,
        mode: str = "poke",
        exponential_backoff: bool = False,
        max_wait: float | timedelta | None = None,
        silent_fail: bool = False,
        never_fail: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.poke_interval = _seconds(poke_interval, "poke_interval", self)
        self.timeout = _seconds(timeout, "timeout", self)
        self.max_wait = None if max_wait is None else _seconds(max_wait, "max_wait", self)
        if mode not in SensorMode._value2member_map_:
            raise DagDefinitionError(
                f"unknown sensor mode {mode!r}; use 'poke' or 'reschedule'",
                dag_id=self.dag.dag_id if self.dag else None,
                task_id=self.task_id,
            )
        self.mode = SensorMode(mode)
        self.soft_fail = soft_fail
        self.exponential_backoff = exponential_backoff
        self.silent_fail = silent_fail
        self.never_fail = never_fail
        self._sleep: Callable[[float], None] = time.sleep

    @property
    def reschedule(self) -> bool:
        return self.mode == SensorMode.RESCHEDULE

    def poke(self, context: Any) -> bool | PokeReturnValue:
        """Return true (or a done ``PokeReturnValue``) once the condition holds."""
        raise NotImplementedError(f"{type(self).__name__} must implement poke()")

    def next_poke_interval(self, poke_count: int) -> float:
        """Seconds to wait after the ``poke_count``-th unsuccessful poke."""
        if not self.exponential_backoff:
            return self.poke_interval
        interval = self.poke_interval * (2 ** max(poke_count - 1, 0))
        return min(interval, self.max_wait) if self.max_wait is not None else interval

    def _timed_out(self, started: datetime) -> None:
        elapsed = (datetime.now(UTC) - started).total_seconds()
        if elapsed <= self.timeout:
            return
        message = (
            f"sensor '{self.task_id}' timed out: its condition was still false after "
            f"{elapsed:.0f}s (timeout={self.timeout:.0f}s)"
        )
        if self.soft_fail or self.never_fail:
            raise AirlockSkipException(message)
        raise AirlockSensorTimeout(message)

    def execute(self, context: Any) -> Any:
        ti = context.get("ti")
        now = datetime.now(UTC)
        started: datetime = getattr(ti, "first_poke_at", None) or now
        poke_count = 0
        while True:
            poke_count += 1
            try:
                result = self.poke(context)
            except (AirlockSensorTimeout, AirlockSkipException, RescheduleRequested):
                raise
            except Exception as exc:
                if self.never_fail:
                    raise AirlockSkipException(f"sensor poke raised {exc!r}; skipping") from exc
                if not self.silent_fail:
                    raise
                result = False
            if result:
                return result.xcom_value if isinstance(result, PokeReturnValue) else None
            self._timed_out(started)
            interval = self.next_poke_interval(poke_count)
            if self.reschedule:
                raise RescheduleRequested(datetime.now(UTC) + timedelta(seconds=interval))
            self._sleep(interval)
