"""``ExternalTaskSensor``: wait for another DAG of the same bundle — its run for the same logical
date (shifted by ``execution_delta`` or chosen by ``execution_date_fn``), or some of its tasks in
that run — to reach an allowed state.

The sensor asks the Execution API through the comms object, so it sees only its own bundle's
DAGs (another team's DAG reads as "no run yet"). ``deferrable=True`` is not supported: there is
no trigger that polls the API from the triggerer; use ``mode="reschedule"`` to free the slot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from airlock.sdk.bases.sensor import BaseSensorOperator
from airlock.sdk.exceptions import AirlockFailException, AirlockSkipException, DagDefinitionError
from airlock.sdk.execution_time.comms import get_comms
from airlock.sdk.timezone import coerce_datetime

log = logging.getLogger("airlock.task")


class ExternalTaskSensor(BaseSensorOperator):
    template_fields = ("external_dag_id", "external_task_id", "external_task_ids")

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str | None = None,
        external_task_ids: Iterable[str] | None = None,
        allowed_states: Iterable[str] | None = None,
        failed_states: Iterable[str] | None = None,
        skipped_states: Iterable[str] | None = None,
        execution_delta: timedelta | None = None,
        execution_date_fn: Callable[..., datetime] | None = None,
        check_existence: bool = False,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if external_task_id is not None and external_task_ids is not None:
            raise DagDefinitionError(
                "ExternalTaskSensor takes external_task_id or external_task_ids, not both",
                task_id=self.task_id,
            )
        if execution_delta is not None and execution_date_fn is not None:
            raise DagDefinitionError(
                "ExternalTaskSensor takes execution_delta or execution_date_fn, not both",
                task_id=self.task_id,
            )
        if deferrable:
            raise DagDefinitionError(
                "ExternalTaskSensor(deferrable=True) is not supported in Airlock; use "
                "mode='reschedule' to free the worker slot between pokes",
                task_id=self.task_id,
            )
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = list(external_task_ids) if external_task_ids else None
        self.allowed_states = list(allowed_states or ["success"])
        self.failed_states = list(failed_states or [])
        self.skipped_states = list(skipped_states or [])
        self.execution_delta = execution_delta
        self.execution_date_fn = execution_date_fn
        self.check_existence = check_existence

    def _logical_date(self, context: Any) -> datetime:
        logical_date = context.get("logical_date")
        if logical_date is None:
            raise AirlockFailException(
                f"{self.task_id}: this run has no logical date, so there is no run of "
                f"{self.external_dag_id!r} to match; trigger it with a logical date"
            )
        if self.execution_delta is not None:
            return coerce_datetime(logical_date - self.execution_delta)
        if self.execution_date_fn is not None:
            return coerce_datetime(self.execution_date_fn(logical_date, context))
        return coerce_datetime(logical_date)

    def poke(self, context: Any) -> bool:
        comms = get_comms("ExternalTaskSensor")
        when = self._logical_date(context)
        found = comms.find_dag_run(dag_id=self.external_dag_id, logical_date=when)
        if found is None:
            log.info("no run of %s for %s yet", self.external_dag_id, when.isoformat())
            return False
        run_id, run_state = found
        task_ids = self.external_task_ids or (
            [self.external_task_id] if self.external_task_id else []
        )
        if not task_ids:
            return self._judge([run_state], f"run {run_id} of {self.external_dag_id}")
        states: list[str | None] = []
        for task_id in task_ids:
            found_states = comms.get_task_states(
                dag_id=self.external_dag_id, run_id=run_id, task_id=task_id
            )
            if not found_states and self.check_existence:
                raise AirlockFailException(
                    f"task {task_id!r} does not exist in run {run_id} of {self.external_dag_id!r}"
                )
            states += found_states or [None]
        return self._judge(states, f"tasks {task_ids} in run {run_id} of {self.external_dag_id}")

    def _judge(self, states: list[str | None], what: str) -> bool:
        if any(s in self.failed_states for s in states):
            message = f"{what} reached a failed state: {states}"
            if self.soft_fail:
                raise AirlockSkipException(message)
            raise AirlockFailException(message)
        if self.skipped_states and any(s in self.skipped_states for s in states):
            raise AirlockSkipException(f"{what} reached a skipped state: {states}")
        return all(s in self.allowed_states for s in states)
