"""One pass over a run's task instances: which may run now, which are skipped or upstream_failed.

Tasks are visited in topological order, so a state decided here (a skip, an upstream failure, an
empty task completed without a worker, a zero-length expansion) is already visible to the tasks
downstream of it in the same pass: a whole chain of skips or failures settles at once.

For each task instance that has not started:

- ``up_for_retry`` / ``up_for_reschedule`` become ``scheduled`` once ``next_retry_at`` (the
  retry or reschedule date) has passed — their dependencies were met before their first try;
- instances without a state get the decision of the setups whose scope they are in, then of
  their trigger rule (:mod:`airlock.scheduling.trigger_rules`);
- a mapped task's placeholder that may run is expanded first (:mod:`airlock.scheduling.mapping`);
- ready ``is_empty`` tasks succeed here; other ready ones become ``scheduled`` (queueing them,
  within pool and concurrency limits, is :mod:`airlock.scheduling.queueing`'s job).

Only memory changes here; :mod:`airlock.scheduling.ti_rows` writes the result.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from airlock.models.dag import SerializedTask, TriggerRule
from airlock.models.states import TaskInstanceState as TIS
from airlock.scheduling.graph import DagGraph
from airlock.scheduling.mapping import MapLengthError
from airlock.scheduling.ti_rows import TiRow, new_row
from airlock.scheduling.trigger_rules import Decision, UpstreamCounts, decide, decide_setup_scope

log = logging.getLogger(__name__)

MapLength = Callable[[SerializedTask], int]

_WAITING_FOR_DATE = (TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE)
DECIDED = {Decision.SKIP: TIS.SKIPPED, Decision.UPSTREAM_FAILED: TIS.UPSTREAM_FAILED}


def group_by_task(rows: list[TiRow]) -> dict[str, list[TiRow]]:
    by_task: dict[str, list[TiRow]] = defaultdict(list)
    for row in rows:
        by_task[row.task_id].append(row)
    return by_task


def evaluate(
    graph: DagGraph,
    rows: list[TiRow],
    now: dt.datetime,
    map_length: MapLength,
    by_task: dict[str, list[TiRow]] | None = None,
) -> list[TiRow]:
    """Decide the next state of every not-yet-started row; return the rows it created.

    New rows (the expansion of mapped tasks) are appended to ``rows`` too.
    """
    if by_task is None:
        by_task = group_by_task(rows)
    created: list[TiRow] = []
    for task_id in graph.order:
        task_rows = by_task.get(task_id)
        if not task_rows:
            continue
        for row in task_rows:
            if row.state in _WAITING_FOR_DATE and (
                row.next_retry_at is None or row.next_retry_at <= now
            ):
                row.state = TIS.SCHEDULED
        pending = [row for row in task_rows if row.state is None]
        if not pending:
            continue
        task = graph.tasks[task_id]
        decision = decide_task(graph, task, by_task)
        if decision is Decision.WAIT:
            continue
        if decision is not Decision.RUN:
            reason = why_decided(graph, task, by_task, decision)
            for row in pending:
                row.state = DECIDED[decision]
                row.reason = reason
            continue
        placeholder = next((r for r in pending if task.mapped and r.map_index == -1), None)
        if placeholder is not None:
            expanded = _expand(task, placeholder, map_length)
            created.extend(expanded)
            task_rows.extend(expanded)
            rows.extend(expanded)
            pending = [row for row in task_rows if row.state is None]
        for row in pending:
            row.state = TIS.SUCCESS if task.is_empty else TIS.SCHEDULED
    return created


def decide_task(
    graph: DagGraph, task: SerializedTask, by_task: Mapping[str, Sequence[TiRow]]
) -> Decision:
    """What ``task``'s not-yet-started instances may do, given the rows of its direct upstream
    tasks and of the setups whose scope it is in (``by_task`` must hold them)."""
    indirect = graph.indirect_setups.get(task.task_id)
    if indirect and task.trigger_rule is not TriggerRule.ALWAYS:
        states = (row.state for setup in indirect for row in by_task.get(setup, ()))
        imposed = decide_setup_scope(states)
        if imposed is not None:
            return imposed
    counts = UpstreamCounts()
    for upstream_id in task.upstream:
        upstream = graph.tasks.get(upstream_id)
        if upstream is None:
            continue
        for row in by_task.get(upstream_id, ()):
            counts.add(row.state, is_setup=upstream.is_setup)
    return decide(task.trigger_rule, counts)


def why_decided(
    graph: DagGraph,
    task: SerializedTask,
    by_task: Mapping[str, Sequence[TiRow]],
    decision: Decision,
) -> str:
    """The reason a person reads for a task skipped or failed by its upstream tasks: which
    upstream tasks (and setups) ended how, under which trigger rule."""
    outcomes: list[str] = []
    for upstream_id in [*task.upstream, *graph.indirect_setups.get(task.task_id, ())]:
        states = sorted({str(row.state.value) for row in by_task.get(upstream_id, ()) if row.state})
        ended = [s for s in states if s not in ("success", "removed")]
        if ended:
            outcomes.append(f"{upstream_id} ({', '.join(ended)})")
    what = "upstream failed" if decision is Decision.UPSTREAM_FAILED else "skipped"
    rule = f"trigger rule {task.trigger_rule.value}"
    if not outcomes:
        return f"{what} by the scheduler: {rule}"
    shown = ", ".join(outcomes[:5]) + (
        f" and {len(outcomes) - 5} more" if len(outcomes) > 5 else ""
    )
    return f"{what} by the scheduler: upstream {shown}; {rule}"


def _expand(task: SerializedTask, placeholder: TiRow, map_length: MapLength) -> list[TiRow]:
    """Turn the placeholder into index 0 and create indexes 1…n-1 (or skip/fail it)."""
    try:
        length = map_length(task)
    except MapLengthError as exc:
        log.warning("cannot expand mapped task: %s", exc)
        placeholder.state = TIS.FAILED
        placeholder.reason = str(exc)
        return []
    if length == 0:
        placeholder.state = TIS.SKIPPED
        placeholder.reason = "expanded over an empty input"
        return []
    placeholder.map_index = 0
    return [new_row(task, index) for index in range(1, length)]
