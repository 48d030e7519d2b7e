"""``>>`` / ``<<`` for everything that can sit in a DAG's graph.

Operators, XComArgs, task groups and edge modifiers (``Label``) all set dependencies the same
way: each exposes the tasks an incoming edge lands on (``roots``) and the tasks an outgoing edge
leaves from (``leaves``); ``a >> b`` links every leaf of ``a`` to every root of ``b``. Lists on
either side fan out, as in Airflow: ``a >> [b, c]`` and ``[a, b] >> c``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from airlock.sdk.exceptions import DagDefinitionError

if TYPE_CHECKING:
    from airlock.sdk.definitions.abstractoperator import AbstractOperator
    from airlock.sdk.definitions.edges import EdgeModifier


class DependencyMixin:
    """Something that can be upstream or downstream of something else."""

    #: Edge modifiers (``Label``) are not nodes: they decorate the edges that pass through them.
    is_edge_modifier = False

    @property
    def roots(self) -> list[AbstractOperator]:
        raise NotImplementedError

    @property
    def leaves(self) -> list[AbstractOperator]:
        raise NotImplementedError

    def set_upstream(
        self, other: DependencyMixin | Sequence[DependencyMixin], edge_modifier: Any = None
    ) -> None:
        for item in flatten(other):
            if item.is_edge_modifier:
                item.add_downstream_node(self)
            else:
                connect(item, self, edge_modifier)

    def set_downstream(
        self, other: DependencyMixin | Sequence[DependencyMixin], edge_modifier: Any = None
    ) -> None:
        for item in flatten(other):
            if item.is_edge_modifier:
                item.add_upstream_node(self)
            else:
                connect(self, item, edge_modifier)

    # Hooks for edge modifiers; a node has nothing to record.
    def add_upstream_node(self, node: DependencyMixin) -> None:
        raise NotImplementedError

    def add_downstream_node(self, node: DependencyMixin) -> None:
        raise NotImplementedError

    def __rshift__(self, other: Any) -> Any:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> Any:
        """``[a, b] >> self``."""
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> Any:
        """``[a, b] << self``."""
        self.set_downstream(other)
        return self


def flatten(items: Any) -> list[DependencyMixin]:
    """``items`` as a flat list of graph nodes; nested lists, tuples and sets are unpacked."""
    if isinstance(items, DependencyMixin):
        return [items]
    if isinstance(items, Iterable) and not isinstance(items, str | bytes):
        out: list[DependencyMixin] = []
        for item in items:
            out.extend(flatten(item))
        return out
    raise DagDefinitionError(
        f"cannot set a dependency on {type(items).__name__} {items!r}: use a task, the result "
        "of calling a @task function, a TaskGroup, a Label, or a list of those"
    )


def connect(
    upstream: DependencyMixin, downstream: DependencyMixin, edge_modifier: EdgeModifier | None
) -> None:
    """Link every leaf of ``upstream`` to every root of ``downstream``."""
    label = getattr(edge_modifier, "label", None)
    for leaf in upstream.leaves:
        for root in downstream.roots:
            link(leaf, root, label)


def link(up: AbstractOperator, down: AbstractOperator, label: str | None = None) -> None:
    """The one place where an edge between two tasks is created."""
    dag = up.dag or down.dag
    if up.dag is not None and down.dag is not None and up.dag is not down.dag:
        raise DagDefinitionError(
            f"cannot link task '{up.task_id}' of DAG '{up.dag.dag_id}' to task "
            f"'{down.task_id}' of DAG '{down.dag.dag_id}': tasks can only depend on tasks "
            "of the same DAG",
            dag_id=up.dag.dag_id,
            task_id=up.task_id,
        )
    if dag is not None:
        if up.dag is None:
            up.dag = dag
        if down.dag is None:
            down.dag = dag
    up.downstream_task_ids.add(down.task_id)
    down.upstream_task_ids.add(up.task_id)
    if label is not None and dag is not None:
        dag.set_edge_label(up.task_id, down.task_id, label)


class ResolveMixin:
    """A placeholder resolved when a task runs (an ``XComArg``, a ``@dag`` function argument)."""

    def resolve(self, context: Any) -> Any:
        raise NotImplementedError
