"""``@task_group``: calling the function creates a TaskGroup around the tasks it creates.

The group id defaults to the function name (``__1``, ``__2`` … when called again) and the
tooltip to its docstring. The call returns what the function returns if that is a task or
XComArg (so dependencies bind to it), else the group itself.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from airlock.sdk.definitions.mixins import DependencyMixin
from airlock.sdk.definitions.taskgroup import TaskGroup
from airlock.sdk.exceptions import DagDefinitionError


class TaskGroupDecorator:
    def __init__(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        self.function = function
        self.kwargs = kwargs
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        options = dict(self.kwargs)
        options.setdefault("group_id", self.function.__name__)
        options.setdefault("tooltip", inspect.getdoc(self.function) or "")
        options.setdefault("add_suffix_on_collision", True)
        with TaskGroup(**options) as group:
            returned = self.function(*args, **kwargs)
        if isinstance(returned, DependencyMixin):
            return returned
        return group

    def override(self, **kwargs: Any) -> TaskGroupDecorator:
        return TaskGroupDecorator(self.function, {**self.kwargs, **kwargs})

    def partial(self, **kwargs: Any) -> Any:
        raise DagDefinitionError(
            f"@task_group {self.function.__name__!r}: mapping task groups (partial/expand) is "
            "not supported yet; map the tasks inside the group instead"
        )

    expand = partial
    expand_kwargs = partial


def task_group(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """``@task_group`` or ``@task_group(group_id=..., tooltip=..., default_args=...)``."""
    if python_callable is not None:
        return TaskGroupDecorator(python_callable, kwargs)
    return lambda function: TaskGroupDecorator(function, kwargs)
