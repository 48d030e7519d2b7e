"""What branching tasks decide, and how the decision is computed.

A branch (``BranchPythonOperator``, ``@task.branch``) or short-circuit task does not skip tasks
itself: its ``execute`` returns a :class:`BranchDecision`, the runtime pushes
``decision.return_value`` to XCom, reports ``decision.skip_task_ids`` to the API, and the
scheduler marks those tasks skipped (trigger rules then carry the skip further downstream).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airlock.sdk.exceptions import AirlockException

if TYPE_CHECKING:
    from airlock.sdk.definitions.abstractoperator import AbstractOperator


@dataclass(frozen=True)
class BranchDecision:
    """Which direct downstream tasks to follow and which tasks to skip."""

    follow_task_ids: tuple[str, ...]
    skip_task_ids: tuple[str, ...]
    #: What the task returned; pushed to XCom as ``return_value``.
    return_value: Any = None


def _as_ids(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        ids = list(value)
        if all(isinstance(v, str) for v in ids):
            return ids
    raise AirlockException(
        f"a branch callable must return a task id, a list of task ids or None, got {value!r}"
    )


def branch_decision(task: AbstractOperator, chosen: Any) -> BranchDecision:
    """Follow ``chosen`` (task or task-group ids); skip the other direct downstream tasks."""
    dag = task.dag
    follow: set[str] = set()
    for task_id in _as_ids(chosen):
        group = _find_group(task, task_id)
        if dag is not None and task_id in dag.task_dict:
            follow.add(task_id)
        elif group is not None:
            follow.update(t.task_id for t in group.roots)
        else:
            raise AirlockException(
                f"branch task '{task.task_id}' chose {task_id!r}, which is not a task or task "
                f"group of DAG '{task.dag_id}'"
            )
    skip = sorted(task.downstream_task_ids - follow)
    return BranchDecision(tuple(sorted(follow)), tuple(skip), chosen)


def _find_group(task: AbstractOperator, group_id: str) -> Any:
    if task.dag is None:
        return None
    stack: list[Any] = [task.dag.task_group]
    while stack:
        group = stack.pop()
        if group.group_id == group_id:
            return group
        stack.extend(c for c in group.children.values() if hasattr(c, "children"))
    return None


def short_circuit_decision(
    task: AbstractOperator, condition: Any, ignore_downstream_trigger_rules: bool
) -> BranchDecision:
    """Truthy: follow everything. Falsy: skip every downstream task (or only direct ones)."""
    if condition:
        return BranchDecision(tuple(sorted(task.downstream_task_ids)), (), condition)
    if ignore_downstream_trigger_rules:
        skip = task.get_flat_relative_ids(upstream=False)
    else:
        skip = set(task.downstream_task_ids)
    return BranchDecision((), tuple(sorted(skip)), condition)
