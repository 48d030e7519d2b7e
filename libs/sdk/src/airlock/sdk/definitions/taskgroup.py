"""Task groups: folders of tasks in the graph view, and a unit for dependencies.

``with TaskGroup("extract") as tg:`` (or a ``@task_group`` function) prefixes the ids of the
tasks created inside with ``extract.`` (unless ``prefix_group_id=False``). ``tg >> x`` links the
group's *leaves* (its tasks with no downstream inside the group, looking past teardowns) to
``x``; ``x >> tg`` links ``x`` to the group's *roots*.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from airlock.sdk.definitions import _active
from airlock.sdk.definitions.abstractoperator import validate_key
from airlock.sdk.definitions.mixins import DependencyMixin
from airlock.sdk.exceptions import DagDefinitionError

if TYPE_CHECKING:
    from airlock.sdk.definitions.abstractoperator import AbstractOperator
    from airlock.sdk.definitions.dag import DAG


class TaskGroup(DependencyMixin):
    """A named group of tasks (and groups) inside a DAG."""

    def __init__(
        self,
        group_id: str | None,
        prefix_group_id: bool = True,
        parent_group: TaskGroup | None = None,
        dag: DAG | None = None,
        *,
        default_args: dict[str, Any] | None = None,
        tooltip: str = "",
        ui_color: str = "CornflowerBlue",
        ui_fgcolor: str = "#000",
        add_suffix_on_collision: bool = False,
        group_display_name: str | None = None,
    ) -> None:
        self.prefix_group_id = prefix_group_id
        self.default_args: dict[str, Any] = dict(default_args or {})
        self.tooltip = tooltip
        self.ui_color = ui_color
        self.ui_fgcolor = ui_fgcolor
        self.group_display_name = group_display_name
        self.children: dict[str, AbstractOperator | TaskGroup] = {}
        self.used_group_ids: set[str | None] = set()
        if group_id is None:  # the root group of a DAG
            if parent_group is not None:
                raise DagDefinitionError("only a DAG's root task group may have no group_id")
            self.dag: DAG | None = dag
            self.parent_group: TaskGroup | None = None
            self._group_id: str | None = None
            return
        dag = dag or (parent_group.dag if parent_group else None) or _active.current_dag()
        if dag is None:
            raise DagDefinitionError(
                f"TaskGroup {group_id!r} must be created inside a DAG (with DAG(...): or @dag) "
                "or be given dag=..."
            )
        validate_key("group_id", group_id, dag_id=dag.dag_id)
        self.dag = dag
        self.parent_group = parent_group or _active.current_group(dag)
        self._group_id = group_id
        if add_suffix_on_collision:
            self._group_id = self._unique_id(group_id)
        assert self.parent_group is not None
        self.parent_group.add(self)

    def _unique_id(self, base: str) -> str:
        used = self.dag.task_group.used_group_ids if self.dag else set()
        candidate, suffix = base, 0
        while (self.parent_group.child_id(candidate) if self.parent_group else candidate) in used:
            suffix += 1
            candidate = f"{base}__{suffix}"
        return candidate

    @property
    def group_id(self) -> str | None:
        """The full id, prefixed with the parent's id when the parent prefixes."""
        if self._group_id is None:
            return None
        parent = self.parent_group
        if parent is not None and parent.group_id and parent.prefix_group_id:
            return f"{parent.group_id}.{self._group_id}"
        return self._group_id

    @property
    def label(self) -> str | None:
        return self._group_id

    @property
    def is_root(self) -> bool:
        return self._group_id is None

    def child_id(self, label: str) -> str:
        if self.prefix_group_id and self.group_id:
            return f"{self.group_id}.{label}"
        return label

    def merged_default_args(self) -> dict[str, Any]:
        """default_args of the enclosing groups, outermost first, then this group's."""
        merged: dict[str, Any] = {}
        if self.parent_group is not None:
            merged.update(self.parent_group.merged_default_args())
        merged.update(self.default_args)
        return merged

    def add(self, node: AbstractOperator | TaskGroup) -> None:
        """Record a direct child (task or group); ids must be unique across the DAG."""
        dag_id = self.dag.dag_id if self.dag else None
        root = self.dag.task_group if self.dag else self
        if isinstance(node, TaskGroup):
            key = node.group_id
            if key in root.used_group_ids or (self.dag and key in self.dag.task_dict):
                raise DagDefinitionError(
                    f"group_id {key!r} is already used by another task group or task; "
                    "task group ids must be unique (or pass add_suffix_on_collision=True)",
                    dag_id=dag_id,
                )
            root.used_group_ids.add(key)
        else:
            key = node.task_id
            if key in root.used_group_ids:
                raise DagDefinitionError(
                    f"task id {key!r} is already used by a task group", dag_id=dag_id, task_id=key
                )
        assert key is not None
        self.children[key] = node

    # --- content ------------------------------------------------------------------------------
    def iter_tasks(self) -> Iterator[AbstractOperator]:
        """Every task in this group and its subgroups."""
        for child in self.children.values():
            if isinstance(child, TaskGroup):
                yield from child.iter_tasks()
            else:
                yield child

    def __iter__(self) -> Iterator[AbstractOperator | TaskGroup]:
        return iter(self.children.values())

    def __contains__(self, key: object) -> bool:
        return key in self.children

    def get_child_by_label(self, label: str) -> AbstractOperator | TaskGroup:
        return self.children[self.child_id(label)]

    @property
    def roots(self) -> list[AbstractOperator]:
        tasks = list(self.iter_tasks())
        ids = {t.task_id for t in tasks}
        return [t for t in tasks if not t.upstream_task_ids & ids]

    @property
    def leaves(self) -> list[AbstractOperator]:
        """Tasks with no downstream in the group; a teardown leaf stands for its work tasks."""
        tasks = list(self.iter_tasks())
        ids = {t.task_id for t in tasks}
        leaves: list[AbstractOperator] = []
        for task in tasks:
            if task.downstream_task_ids & ids:
                continue
            if task.is_teardown:
                leaves.extend(self._work_before(task, ids))
            else:
                leaves.append(task)
        unique = {t.task_id: t for t in leaves}
        return list(unique.values()) or [t for t in tasks if not t.downstream_task_ids & ids]

    def _work_before(self, teardown: AbstractOperator, ids: set[str]) -> list[AbstractOperator]:
        found: list[AbstractOperator] = []
        for upstream in teardown.upstream_list:
            if upstream.task_id not in ids or upstream.is_setup:
                continue
            if upstream.is_teardown:
                found.extend(self._work_before(upstream, ids))
            else:
                found.append(upstream)
        return found

    # --- context manager ----------------------------------------------------------------------
    def __enter__(self) -> TaskGroup:
        _active.push_group(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _active.pop_group(self)

    def __repr__(self) -> str:
        return f"<TaskGroup: {self.group_id}>"
