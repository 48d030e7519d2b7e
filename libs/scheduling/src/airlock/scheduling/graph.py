"""The shape of one DAG version, precomputed once so every scheduling pass is a walk, not a search.

A :class:`DagGraph` wraps a decoded :class:`~airlock.models.dag.SerializedDag` with what the
scheduler asks about it again and again: tasks by id, a topological order (so a state decided for
one task is seen by its downstream tasks in the same pass), the *effective leaves* that decide a
run's end state, and the setups whose scope each task lies in. It is immutable and cached per DAG
version (:class:`~airlock.scheduling.dag_cache.DagCache`).

Setup/teardown scope, as users of Airflow know it:

- a teardown belongs to the setups directly upstream of it;
- a task is *in the scope* of a setup ``S`` when ``S`` is one of its ancestors and ``S`` has no
  teardown, or one of ``S``'s teardowns is the task itself or one of its descendants;
- a teardown that is not ``on_failure_fail_dagrun`` never decides the run's state: it is not a
  leaf, and its upstream tasks count as leaves in its place.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from functools import cached_property

from airlock.models.dag import SerializedDag, SerializedTask


class DagGraph:
    def __init__(self, dag: SerializedDag) -> None:
        self.dag = dag
        self.tasks: Mapping[str, SerializedTask] = {task.task_id: task for task in dag.tasks}
        self.order: tuple[str, ...] = _topological_order(self.tasks)
        self.has_setups = any(task.is_setup for task in dag.tasks)
        self.has_mapped = any(task.mapped is not None for task in dag.tasks)

    def task(self, task_id: str) -> SerializedTask | None:
        return self.tasks.get(task_id)

    @cached_property
    def effective_leaves(self) -> frozenset[str]:
        """The tasks whose states decide whether a finished run succeeded."""
        leaves = {tid for tid, task in self.tasks.items() if self._is_effective_leaf(task)}
        if not leaves:  # a DAG made only of ignorable teardowns
            leaves = {tid for tid, task in self.tasks.items() if not task.downstream}
        return frozenset(leaves)

    def _is_effective_leaf(self, task: SerializedTask) -> bool:
        if _ignorable_teardown(task):
            return False
        return all(_ignorable_teardown(self.tasks[d]) for d in task.downstream if d in self.tasks)

    @cached_property
    def _ancestors(self) -> Mapping[str, frozenset[str]]:
        result: dict[str, frozenset[str]] = {}
        for task_id in self.order:
            found: set[str] = set()
            for up in self.tasks[task_id].upstream:
                if up in self.tasks:
                    found.add(up)
                    found |= result[up]
            result[task_id] = frozenset(found)
        return result

    @cached_property
    def _descendants(self) -> Mapping[str, frozenset[str]]:
        result: dict[str, frozenset[str]] = {}
        for task_id in reversed(self.order):
            found: set[str] = set()
            for down in self.tasks[task_id].downstream:
                if down in self.tasks:
                    found.add(down)
                    found |= result[down]
            result[task_id] = frozenset(found)
        return result

    def descendants(self, task_id: str) -> frozenset[str]:
        return self._descendants.get(task_id, frozenset())

    @cached_property
    def position(self) -> Mapping[str, int]:
        """Each task's index in :attr:`order`."""
        return {task_id: index for index, task_id in enumerate(self.order)}

    def affected_by(self, task_id: str) -> frozenset[str]:
        """The tasks whose readiness may change when an instance of ``task_id`` ends: its direct
        downstream tasks and, for a setup, the tasks in its scope (:attr:`indirect_setups`)."""
        return self._affected.get(task_id, frozenset())

    @cached_property
    def _affected(self) -> Mapping[str, frozenset[str]]:
        found: dict[str, set[str]] = {
            task_id: {d for d in task.downstream if d in self.tasks}
            for task_id, task in self.tasks.items()
        }
        for task_id, setups in self.indirect_setups.items():
            for setup in setups:
                found[setup].add(task_id)
        return {task_id: frozenset(ids) for task_id, ids in found.items()}

    def teardowns_of(self, setup_id: str) -> tuple[str, ...]:
        task = self.tasks[setup_id]
        return tuple(d for d in task.downstream if d in self.tasks and self.tasks[d].is_teardown)

    @cached_property
    def indirect_setups(self) -> Mapping[str, tuple[str, ...]]:
        """For each task, the setups whose scope it is in without being directly downstream.

        Such a setup that failed or was skipped decides the task's state whatever its trigger
        rule (an ``all_done`` task inside a failed setup's scope does not run).
        """
        if not self.has_setups:
            return {}
        result: dict[str, tuple[str, ...]] = {}
        for task_id, task in self.tasks.items():
            direct = set(task.upstream)
            in_scope_of = []
            for ancestor in sorted(self._ancestors[task_id]):
                if not self.tasks[ancestor].is_setup or ancestor in direct:
                    continue
                teardowns = self.teardowns_of(ancestor)
                below = self._descendants[task_id] | {task_id}
                if not teardowns or any(t in below for t in teardowns):
                    in_scope_of.append(ancestor)
            if in_scope_of:
                result[task_id] = tuple(in_scope_of)
        return result


def _ignorable_teardown(task: SerializedTask) -> bool:
    return task.is_teardown and not task.on_failure_fail_dagrun


def _topological_order(tasks: Mapping[str, SerializedTask]) -> tuple[str, ...]:
    """Kahn's algorithm; ties keep the DAG's task order so the result is deterministic."""
    pending = {tid: sum(1 for up in t.upstream if up in tasks) for tid, t in tasks.items()}
    ready = deque(tid for tid, count in pending.items() if count == 0)
    order: list[str] = []
    while ready:
        task_id = ready.popleft()
        order.append(task_id)
        for down in tasks[task_id].downstream:
            if down not in pending:
                continue
            pending[down] -= 1
            if pending[down] == 0:
                ready.append(down)
    if len(order) != len(tasks):
        stuck = sorted(set(tasks) - set(order))
        raise ValueError(f"DAG has a dependency cycle through tasks {stuck}")
    return tuple(order)
