"""``ExternalTaskSensor`` on the in-memory API: waits for the other DAG's run of the matching
logical date (or some of its tasks), fails or skips on the states it is told to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airlock.sdk import DAG, DagDefinitionError
from airlock.sdk.exceptions import AirlockFailException
from airlock.sdk.sensors.external_task import ExternalTaskSensor
from airlock.sdk.testing import InMemoryComms, run_task

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def sensor(**kwargs: object) -> ExternalTaskSensor:
    with DAG("downstream", schedule=None):
        return ExternalTaskSensor(
            task_id="wait", external_dag_id="upstream", mode="reschedule", **kwargs
        )


def test_waits_for_the_run_of_the_same_or_shifted_logical_date() -> None:
    comms = InMemoryComms()
    wait = sensor()
    assert run_task(wait, logical_date=DAY, comms=comms).state == "up_for_reschedule"
    comms.runs_by_logical_date[("upstream", DAY)] = "r1"
    comms.dag_run_states[("upstream", "r1")] = "running"
    assert run_task(wait, logical_date=DAY, comms=comms).state == "up_for_reschedule"
    comms.dag_run_states[("upstream", "r1")] = "success"
    assert run_task(wait, logical_date=DAY, comms=comms).state == "success"
    shifted = sensor(execution_delta=timedelta(days=1))
    later = DAY + timedelta(days=1)
    assert run_task(shifted, logical_date=later, comms=comms).state == "success"


def test_task_states_decide_and_failed_states_fail_or_skip() -> None:
    comms = InMemoryComms()
    comms.runs_by_logical_date[("upstream", DAY)] = "r1"
    comms.task_states[("upstream", "r1", "load")] = ["success", "running"]  # mapped
    wait = sensor(external_task_id="load", failed_states=["failed"])
    assert run_task(wait, logical_date=DAY, comms=comms).state == "up_for_reschedule"
    comms.task_states[("upstream", "r1", "load")] = ["success", "failed"]
    with pytest.raises(AirlockFailException, match="reached a failed state"):
        run_task(wait, logical_date=DAY, comms=comms)
    soft = sensor(external_task_ids=["load"], failed_states=["failed"], soft_fail=True)
    assert run_task(soft, logical_date=DAY, comms=comms).state == "skipped"
    missing = sensor(external_task_id="nope", check_existence=True)
    with pytest.raises(AirlockFailException, match="does not exist"):
        run_task(missing, logical_date=DAY, comms=comms)


def test_bad_arguments_are_refused_while_parsing() -> None:
    with pytest.raises(DagDefinitionError, match="not both"):
        sensor(external_task_id="a", external_task_ids=["b"])
    with pytest.raises(DagDefinitionError, match="mode='reschedule'"):
        sensor(deferrable=True)
