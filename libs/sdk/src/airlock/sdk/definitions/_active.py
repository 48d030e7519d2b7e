"""What is being defined right now: the open DAG, task group and setup/teardown blocks.

``with DAG(...)``, ``with TaskGroup(...)`` and ``with setup >> teardown:`` push onto these stacks;
operators created inside pick their DAG and group from here. DAGs closed by a ``with`` block or
built by ``@dag`` are also *auto-registered*, so a DAG processor finds DAGs that a file built
without keeping them in a module-level variable.

Parsing is single-threaded (one DAG file per parser process), so plain module state is enough.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airlock.sdk.definitions.abstractoperator import AbstractOperator
    from airlock.sdk.definitions.dag import DAG
    from airlock.sdk.definitions.taskgroup import TaskGroup

_dags: list[DAG] = []
_groups: list[TaskGroup] = []
_setup_teardown: list[SetupTeardownFrame] = []
_registered: dict[str, DAG] = {}
_deferring_validation: list[bool] = []
#: Per open mapped task group: the ids of the mapped tasks created inside it.
_mapped_groups: list[set[int]] = []


@dataclass
class SetupTeardownFrame:
    """An open ``with setup >> teardown:`` block and the tasks created inside it."""

    setups: list[AbstractOperator]
    teardowns: list[AbstractOperator]
    tasks: list[AbstractOperator] = field(default_factory=list)


def current_dag() -> DAG | None:
    return _dags[-1] if _dags else None


def push_dag(dag: DAG) -> None:
    _dags.append(dag)


def pop_dag(dag: DAG) -> None:
    if _dags and _dags[-1] is dag:
        _dags.pop()


def current_group(dag: DAG | None) -> TaskGroup | None:
    """The innermost open task group of ``dag``, else its root group."""
    for group in reversed(_groups):
        if group.dag is dag:
            return group
    return dag.task_group if dag is not None else None


def push_group(group: TaskGroup) -> None:
    _groups.append(group)


def pop_group(group: TaskGroup) -> None:
    if _groups and _groups[-1] is group:
        _groups.pop()


def push_setup_teardown(frame: SetupTeardownFrame) -> None:
    _setup_teardown.append(frame)


def pop_setup_teardown() -> SetupTeardownFrame:
    return _setup_teardown.pop()


def record_new_task(task: AbstractOperator) -> None:
    """Tell every open setup/teardown block that ``task`` was created inside it."""
    for frame in _setup_teardown:
        if task not in frame.setups and task not in frame.teardowns:
            frame.tasks.append(task)


@contextlib.contextmanager
def detached() -> Iterator[None]:
    """Create operators that join no DAG (used to build the concrete task of a mapped one)."""
    saved = (_dags[:], _groups[:], _setup_teardown[:])
    _dags.clear()
    _groups.clear()
    _setup_teardown.clear()
    try:
        yield
    finally:
        _dags[:], _groups[:], _setup_teardown[:] = saved


def register_dag(dag: DAG) -> None:
    _registered[dag.dag_id] = dag


def registered_dags() -> list[DAG]:
    """DAGs closed by a ``with`` block or built by ``@dag`` since the last :func:`clear`."""
    return list(_registered.values())


@contextlib.contextmanager
def deferred_validation() -> Iterator[None]:
    """Let a ``with DAG`` block that fails validation close and register anyway.

    A DAG processor parses a whole file at once; with this, one invalid DAG does not stop the
    file's import, and the error surfaces when that DAG alone is serialized.
    """
    _deferring_validation.append(True)
    try:
        yield
    finally:
        _deferring_validation.pop()


@contextlib.contextmanager
def mapped_group() -> Iterator[set[int]]:
    """While a mapped task group's function runs: collects the tasks mapped inside it."""
    tasks: set[int] = set()
    _mapped_groups.append(tasks)
    try:
        yield tasks
    finally:
        _mapped_groups.pop()


def innermost_mapped_group() -> set[int] | None:
    return _mapped_groups[-1] if _mapped_groups else None


def validation_deferred() -> bool:
    return bool(_deferring_validation)


def clear() -> None:
    """Forget auto-registered DAGs and any open blocks (between two parsed files)."""
    _registered.clear()
    _dags.clear()
    _groups.clear()
    _setup_teardown.clear()
    _mapped_groups.clear()
