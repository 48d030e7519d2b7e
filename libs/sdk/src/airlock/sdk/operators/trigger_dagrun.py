"""TriggerDagRunOperator: start a run of another DAG through the API."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from airlock.sdk.definitions.baseoperator import BaseOperator
from airlock.sdk.exceptions import (
    AirlockException,
    AirlockSkipException,
    DagDefinitionError,
    DagRunAlreadyExists,
)
from airlock.sdk.execution_time.comms import get_comms

XCOM_RUN_ID = "trigger_run_id"


class TriggerDagRunOperator(BaseOperator):
    """Trigger ``trigger_dag_id`` with ``conf``; optionally wait until that run ends."""

    template_fields = ("trigger_dag_id", "trigger_run_id", "logical_date", "conf")
    template_fields_renderers = {"conf": "py"}
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        trigger_dag_id: str,
        trigger_run_id: str | None = None,
        conf: dict[str, Any] | None = None,
        logical_date: str | datetime | None = None,
        reset_dag_run: bool = False,
        wait_for_completion: bool = False,
        poke_interval: float = 60,
        allowed_states: Sequence[str] | None = None,
        failed_states: Sequence[str] | None = None,
        skip_when_already_exists: bool = False,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf
        self.logical_date = logical_date
        self.reset_dag_run = reset_dag_run
        self.wait_for_completion = wait_for_completion
        self.poke_interval = poke_interval
        self.allowed_states = list(allowed_states or ["success"])
        self.failed_states = list(failed_states or ["failed"])
        self.skip_when_already_exists = skip_when_already_exists
        self.deferrable = deferrable
        if conf is not None and not isinstance(conf, dict | str):
            raise DagDefinitionError(
                f"conf must be a dict, got {type(conf).__name__}",
                dag_id=self.dag.dag_id if self.dag else None,
                task_id=self.task_id,
            )

    def _logical_date(self) -> datetime | None:
        value = self.logical_date
        if value is None or isinstance(value, datetime):
            return value
        return datetime.fromisoformat(str(value))

    def execute(self, context: Any) -> None:
        logical_date = self._logical_date()
        run_id = self.trigger_run_id or (
            f"manual__{(logical_date or datetime.now(UTC)).isoformat()}"
        )
        try:
            conf = msgspec.json.decode(msgspec.json.encode(self.conf)) if self.conf else {}
        except (TypeError, msgspec.EncodeError) as exc:
            raise AirlockException(f"conf must be JSON-serializable: {exc}") from None
        comms = get_comms("TriggerDagRunOperator")
        try:
            run_id = comms.trigger_dag_run(
                dag_id=self.trigger_dag_id,
                run_id=run_id,
                conf=conf,
                logical_date=logical_date,
                reset_dag_run=self.reset_dag_run,
            )
        except DagRunAlreadyExists:
            if self.skip_when_already_exists:
                raise AirlockSkipException(
                    f"run {run_id!r} of DAG {self.trigger_dag_id!r} already exists; skipping"
                ) from None
            raise
        ti = context.get("ti")
        if ti is not None:
            ti.xcom_push(XCOM_RUN_ID, run_id)
        if self.wait_for_completion:
            self._wait(run_id)

    def _wait(self, run_id: str) -> None:
        comms = get_comms("TriggerDagRunOperator")
        while True:
            state = comms.get_dag_run_state(dag_id=self.trigger_dag_id, run_id=run_id)
            if state in self.failed_states:
                raise AirlockException(
                    f"run {run_id!r} of DAG {self.trigger_dag_id!r} ended in state {state!r}"
                )
            if state in self.allowed_states:
                return
            time.sleep(self.poke_interval)
