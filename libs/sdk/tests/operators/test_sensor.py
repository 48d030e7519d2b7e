"""Sensors: poke mode loops, reschedule mode asks to be run again, timeouts, soft_fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airlock.sdk import DAG, BaseSensorOperator, PokeReturnValue, RescheduleRequested, task
from airlock.sdk.exceptions import AirlockSensorTimeout
from airlock.sdk.testing import InMemoryComms, run_task


class CountingSensor(BaseSensorOperator):
    def __init__(self, *, succeed_after: int, **kwargs):
        super().__init__(**kwargs)
        self.succeed_after = succeed_after
        self.pokes = 0
        self.sleeps: list[float] = []
        self._sleep = self.sleeps.append

    def poke(self, context):
        self.pokes += 1
        return self.pokes >= self.succeed_after


def _sensor(**kwargs) -> CountingSensor:
    with DAG("sensing", schedule=None):
        return CountingSensor(task_id="wait", **kwargs)


def test_poke_mode_loops_until_true() -> None:
    sensor = _sensor(succeed_after=3, poke_interval=2)
    assert sensor.execute({}) is None
    assert sensor.pokes == 3
    assert sensor.sleeps == [2.0, 2.0]


def test_exponential_backoff_is_capped() -> None:
    sensor = _sensor(succeed_after=5, poke_interval=1, exponential_backoff=True, max_wait=5)
    sensor.execute({})
    assert sensor.sleeps == [1.0, 2.0, 4.0, 5.0]


def test_reschedule_mode_raises_reschedule() -> None:
    sensor = _sensor(succeed_after=2, poke_interval=timedelta(minutes=5), mode="reschedule")
    outcome = run_task(sensor)
    assert outcome.state == "up_for_reschedule"
    assert outcome.reschedule_date is not None
    assert outcome.reschedule_date > datetime.now(UTC) + timedelta(minutes=4)
    with pytest.raises(RescheduleRequested):
        sensor.execute({})


def test_timeout_fails_or_skips() -> None:
    class FirstPokeLongAgo:
        first_poke_at = datetime.now(UTC) - timedelta(hours=2)

    sensor = _sensor(succeed_after=100, timeout=3600, mode="reschedule")
    with pytest.raises(AirlockSensorTimeout, match="timed out"):
        sensor.execute({"ti": FirstPokeLongAgo()})
    soft = _sensor(succeed_after=100, timeout=0, soft_fail=True)
    assert run_task(soft).state == "skipped"


def test_invalid_mode_is_a_parse_error() -> None:
    from airlock.sdk import DagDefinitionError

    with pytest.raises(DagDefinitionError, match="unknown sensor mode 'sometimes'"):
        _sensor(succeed_after=1, mode="sometimes")


def test_task_sensor_with_poke_return_value(load_dags) -> None:
    dag = load_dags("sensors.py")["sensors"]
    sensor = dag.get_task("wait_for_upstream")
    assert isinstance(sensor, BaseSensorOperator)
    assert (sensor.mode, sensor.poke_interval, sensor.timeout) == ("reschedule", 30.0, 3600.0)
    comms = InMemoryComms()
    outcome = run_task(sensor, comms=comms)
    assert outcome.return_value == "ready"
    assert comms.xcoms_of("wait_for_upstream") == {"return_value": "ready"}


def test_task_sensor_false_then_true() -> None:
    calls = []

    with DAG("sensing", schedule=None):

        @task.sensor(poke_interval=0)
        def wait() -> PokeReturnValue:
            calls.append(1)
            return PokeReturnValue(is_done=len(calls) >= 2, xcom_value=len(calls))

        op = wait().operator
    assert run_task(op).return_value == 2
