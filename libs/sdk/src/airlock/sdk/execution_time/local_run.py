"""One DAG run in this process, with no services: what ``dag.test()`` and ``airlock dags test``
run.

A DAG author debugging a DAG wants the whole run on their laptop, breakpoints included, without a
database, a scheduler or a worker. This module walks the DAG in dependency order and runs each
task with :func:`airlock.sdk.testing.run_task` against an :class:`~airlock.sdk.testing.InMemoryComms`
(the temporary store: XComs, variables, connections). It applies the same rules the scheduler
applies — trigger rules, branch and short-circuit skips, mapped tasks expanded from their
upstream XComs (zero items: skipped), retries (without waiting), sensors rescheduled in place —
so what passes here passes on the stack. Callbacks, pools and concurrency limits are the
scheduler's and are not exercised.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airlock.models.dag import TriggerRule
from airlock.models.execution import DagRunInfo
from airlock.models.states import DagRunState, DagRunType
from airlock.sdk.definitions.mappedoperator import MappedOperator
from airlock.sdk.definitions.retry_policy import RetryAction, RetryDecision, decide_retry
from airlock.sdk.exceptions import AirlockFailException, AirlockSensorTimeout
from airlock.sdk.execution_time.context import RuntimeTaskInstance, build_context
from airlock.sdk.timezone import coerce_datetime, utcnow

if TYPE_CHECKING:
    from airlock.sdk.definitions.abstractoperator import AbstractOperator
    from airlock.sdk.definitions.dag import DAG
    from airlock.sdk.testing import InMemoryComms

SUCCESS, FAILED, SKIPPED, UPSTREAM_FAILED = "success", "failed", "skipped", "upstream_failed"


@dataclass
class DagTestResult:
    """How a local run ended: the run's state and each task instance's."""

    dag_id: str
    run_id: str
    state: str
    #: ``(task_id, map_index)`` → state; ``map_index`` is -1 for a task that is not mapped.
    task_states: dict[tuple[str, int], str] = field(default_factory=dict)
    #: ``(task_id, map_index)`` → the exception that failed the task's last try.
    errors: dict[tuple[str, int], BaseException] = field(default_factory=dict)
    comms: InMemoryComms | None = None

    def state_of(self, task_id: str) -> str:
        """The task's state; for a mapped task, the state of its instances taken together."""
        states = [s for (t, _), s in self.task_states.items() if t == task_id]
        if not states:
            raise KeyError(f"task {task_id!r} did not run in this test of {self.dag_id!r}")
        return _combined(states)

    def xcom(self, task_id: str, key: str = "return_value", map_index: int | None = None) -> Any:
        assert self.comms is not None
        return self.comms.xcom_pull(
            dag_id=self.dag_id, run_id=self.run_id, task_id=task_id, key=key, map_index=map_index
        )


def _combined(states: list[str]) -> str:
    for state in (FAILED, UPSTREAM_FAILED):
        if state in states:
            return state
    if states and all(s == SKIPPED for s in states):
        return SKIPPED
    return SUCCESS


def _rule_outcome(task: AbstractOperator, upstream: dict[str, str], dag: DAG) -> str | None:
    """``None`` if ``task`` runs, else the state its trigger rule gives it."""
    if not upstream:
        return None
    states = list(upstream.values())
    success = states.count(SUCCESS)
    skipped = states.count(SKIPPED)
    failed = states.count(FAILED) + states.count(UPSTREAM_FAILED)
    rule = TriggerRule(task.trigger_rule)
    if rule == TriggerRule.ALL_SUCCESS:
        return UPSTREAM_FAILED if failed else SKIPPED if skipped else None
    if rule == TriggerRule.ALL_FAILED:
        return SKIPPED if success or skipped else None
    if rule in (TriggerRule.ALL_DONE, TriggerRule.ALWAYS):
        return None
    if rule == TriggerRule.ALL_DONE_MIN_ONE_SUCCESS:
        return None if success else SKIPPED
    if rule == TriggerRule.ALL_DONE_SETUP_SUCCESS:
        setups = [s for t, s in upstream.items() if dag.task_dict[t].is_setup]
        if any(s in (FAILED, UPSTREAM_FAILED) for s in setups):
            return UPSTREAM_FAILED
        return SKIPPED if setups and all(s == SKIPPED for s in setups) else None
    if rule == TriggerRule.ONE_SUCCESS:
        return None if success else UPSTREAM_FAILED if failed else SKIPPED
    if rule == TriggerRule.ONE_FAILED:
        return None if failed else SKIPPED
    if rule == TriggerRule.ONE_DONE:
        return None if success or failed else SKIPPED
    if rule == TriggerRule.NONE_FAILED:
        return UPSTREAM_FAILED if failed else None
    if rule == TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
        return UPSTREAM_FAILED if failed else None if success else SKIPPED
    if rule == TriggerRule.NONE_SKIPPED:
        return SKIPPED if skipped else None
    if rule == TriggerRule.ALL_SKIPPED:
        return SKIPPED if success or failed else None
    raise ValueError(f"unknown trigger rule {rule!r}")


class _LocalRun:
    def __init__(
        self,
        dag: DAG,
        comms: InMemoryComms,
        run: DagRunInfo,
        report: Callable[[str], None],
    ) -> None:
        self.dag = dag
        self.comms = comms
        self.run = run
        self.report = report
        self.result = DagTestResult(dag.dag_id, run.run_id, "running", comms=comms)
        self.task_state: dict[str, str] = {}
        self.forced_skips: set[str] = set()

    def execute(self) -> DagTestResult:
        pending = list(self.dag.task_dict)
        while pending:
            ready = [
                t
                for t in pending
                if all(u in self.task_state for u in self.dag.task_dict[t].upstream_task_ids)
            ]
            if not ready:
                raise RuntimeError(f"tasks {pending} can never run: their upstreams never finish")
            for task_id in ready:
                pending.remove(task_id)
                self.task_state[task_id] = self._settle(self.dag.task_dict[task_id])
        self.result.state = self._run_state()
        self.report(f"run {self.run.run_id}: {self.result.state}")
        return self.result

    def _settle(self, task: AbstractOperator) -> str:
        upstream = {u: self.task_state[u] for u in task.upstream_task_ids}
        if task.task_id in self.forced_skips:
            outcome: str | None = SKIPPED
        else:
            outcome = _rule_outcome(task, upstream, self.dag)
        if outcome is not None:
            self._record(task.task_id, -1, outcome)
            return outcome
        if isinstance(task, MappedOperator):
            return self._run_mapped(task)
        return self._run_one(task, -1)

    def _run_mapped(self, task: MappedOperator) -> str:
        probe = RuntimeTaskInstance(task=task, dag_id=self.dag.dag_id, run_id=self.run.run_id)
        try:
            length = task.expand_length(build_context(task, probe, self.run))
        except Exception as exc:
            self.result.errors[(task.task_id, -1)] = exc
            self._record(task.task_id, -1, FAILED, exc)
            return FAILED
        if length == 0:
            self._record(task.task_id, -1, SKIPPED, "nothing to map over")
            return SKIPPED
        return _combined([self._run_one(task, index) for index in range(length)])

    def _run_one(self, task: AbstractOperator, map_index: int) -> str:
        from airlock.sdk.testing import run_task

        tries = task.retries + 1
        started = time.monotonic()
        for try_number in range(1, tries + 1):
            try:
                while True:
                    outcome = run_task(
                        task,
                        logical_date=self.run.logical_date,
                        run_id=self.run.run_id,
                        conf=dict(self.run.conf),
                        map_index=map_index,
                        try_number=try_number,
                        data_interval=_interval(self.run),
                        comms=self.comms,
                    )
                    if outcome.state != "up_for_reschedule":
                        break
                    self._wait_for_reschedule(task, outcome.reschedule_date, started)
            except Exception as exc:
                self.result.errors[(task.task_id, map_index)] = exc
                decision = RetryDecision()
                if not isinstance(exc, AirlockFailException):
                    decision = decide_retry(task.retry_policy, exc, try_number, task.retries, None)
                reason = f" ({decision.reason})" if decision.reason else ""
                final = (
                    isinstance(exc, AirlockFailException)
                    or decision.action is RetryAction.FAIL
                    or try_number == tries
                )
                if final:
                    self._record(task.task_id, map_index, FAILED, f"{exc!r}{reason}")
                    return FAILED
                self.report(
                    f"{_name(task.task_id, map_index)}: try {try_number} failed: {exc!r}{reason}"
                )
                continue
            if outcome.decision is not None:
                self.forced_skips.update(outcome.decision.skip_task_ids)
            state = SKIPPED if outcome.state == "skipped" else SUCCESS
            self._record(task.task_id, map_index, state, outcome.skip_reason)
            return state
        raise AssertionError("unreachable")

    def _wait_for_reschedule(
        self, task: AbstractOperator, when: datetime | None, started: float
    ) -> None:
        timeout = float(getattr(task, "timeout", 0) or 0)
        if timeout and time.monotonic() - started > timeout:
            raise AirlockSensorTimeout(
                f"sensor '{task.task_id}' timed out after {timeout:.0f}s (rescheduled in place)"
            )
        delay = (when - utcnow()).total_seconds() if when is not None else 0.0
        time.sleep(min(max(delay, 0.0), 5.0))

    def _record(self, task_id: str, map_index: int, state: str, note: object = None) -> None:
        self.result.task_states[(task_id, map_index)] = state
        detail = f" ({note!r})" if isinstance(note, BaseException) else f" ({note})" if note else ""
        self.report(f"{_name(task_id, map_index)}: {state}{detail}")

    def _run_state(self) -> str:
        leaves = [t for t in self.dag.leaves if not t.is_teardown] or self.dag.leaves
        deciders = {t.task_id for t in leaves}
        deciders |= {t.task_id for t in self.dag.tasks if t.on_failure_fail_dagrun}
        bad = [t for t in deciders if self.task_state.get(t) in (FAILED, UPSTREAM_FAILED)]
        return FAILED if bad else SUCCESS


def _name(task_id: str, map_index: int) -> str:
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


def _interval(run: DagRunInfo) -> tuple[datetime, datetime] | None:
    if run.data_interval_start is None or run.data_interval_end is None:
        return None
    return run.data_interval_start, run.data_interval_end


def run_dag(
    dag: DAG,
    *,
    logical_date: datetime | None = None,
    run_id: str | None = None,
    conf: dict[str, Any] | None = None,
    comms: InMemoryComms | None = None,
    report: Callable[[str], None] | None = None,
) -> DagTestResult:
    """Run every task of ``dag`` once, here, in dependency order; see the module docstring."""
    from airlock.sdk.testing import InMemoryComms, use_comms

    dag.validate()
    params = dag.params.copy()
    params.update(conf or {})
    params.validate()
    when = coerce_datetime(logical_date) if logical_date is not None else utcnow()
    run = DagRunInfo(
        dag_id=dag.dag_id,
        run_id=run_id or f"manual__{when.isoformat()}",
        run_type=DagRunType.MANUAL,
        state=DagRunState.RUNNING,
        logical_date=when,
        data_interval_start=when,
        data_interval_end=when,
        run_after=when,
        start_date=utcnow(),
        conf=dict(conf or {}),
    )
    if report is None:

        def report(line: str) -> None:
            print(f"[{dag.dag_id}] {line}", file=sys.stderr, flush=True)

    store = comms or InMemoryComms()
    with use_comms(store):
        return _LocalRun(dag, store, run, report).execute()
