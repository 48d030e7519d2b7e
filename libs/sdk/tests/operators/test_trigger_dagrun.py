"""TriggerDagRunOperator goes through the comms object."""

from __future__ import annotations

import pytest

from airlock.sdk import DAG, TriggerDagRunOperator
from airlock.sdk.exceptions import AirlockException, DagRunAlreadyExists
from airlock.sdk.testing import InMemoryComms, run_task


def _trigger(**kwargs) -> TriggerDagRunOperator:
    with DAG("parent", schedule=None):
        return TriggerDagRunOperator(task_id="trigger", trigger_dag_id="child", **kwargs)


def test_triggers_with_rendered_conf() -> None:
    comms = InMemoryComms()
    op = _trigger(trigger_run_id="run-{{ run_id }}", conf={"origin": "{{ dag.dag_id }}"})
    assert run_task(op, run_id="r1", comms=comms).state == "success"
    assert comms.triggered_runs == [
        {"dag_id": "child", "run_id": "run-r1", "conf": {"origin": "parent"}, "logical_date": None}
    ]
    assert comms.xcoms_of("trigger") == {"trigger_run_id": "run-r1"}


def test_existing_run_fails_or_skips() -> None:
    comms = InMemoryComms()
    comms.dag_run_states[("child", "fixed")] = "success"
    with pytest.raises(DagRunAlreadyExists):
        run_task(_trigger(trigger_run_id="fixed"), comms=comms)
    skipping = _trigger(trigger_run_id="fixed", skip_when_already_exists=True)
    assert run_task(skipping, comms=comms).state == "skipped"


def test_wait_for_completion() -> None:
    class FinishingComms(InMemoryComms):
        def get_dag_run_state(self, *, dag_id: str, run_id: str) -> str | None:
            return "failed" if run_id == "bad" else "success"

    comms = FinishingComms()
    good = _trigger(trigger_run_id="good", wait_for_completion=True, poke_interval=0)
    assert run_task(good, comms=comms).state == "success"
    bad = _trigger(trigger_run_id="bad", wait_for_completion=True, poke_interval=0)
    with pytest.raises(AirlockException, match="ended in state 'failed'"):
        run_task(bad, comms=comms)
