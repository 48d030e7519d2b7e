"""``@task_group``: calling the function creates a TaskGroup around the tasks it creates.

The group id defaults to the function name (``__1``, ``__2`` … when called again) and the
tooltip to its docstring. The call returns what the function returns if that is a task or
XComArg (so dependencies bind to it), else the group itself.

``@task_group`` functions can be mapped: ``group.partial(…).expand(arg=values)`` runs the
function once with a :class:`MappedArgument` for ``arg``, and each ``@task`` called with it (or
with the output of a task mapped the same way inside the group) becomes a mapped task; instance
``i`` of every such task works on item ``i``. What the group returns, seen from outside, is the
list of all instances' outputs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from airlock.sdk.definitions import _active
from airlock.sdk.definitions.mappedoperator import is_mappable_value
from airlock.sdk.definitions.mixins import DependencyMixin
from airlock.sdk.definitions.taskgroup import TaskGroup
from airlock.sdk.exceptions import DagDefinitionError


class TaskGroupDecorator:
    def __init__(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        self.function = function
        self.kwargs = kwargs
        functools.update_wrapper(self, function)

    def _options(self) -> dict[str, Any]:
        options = dict(self.kwargs)
        options.setdefault("group_id", self.function.__name__)
        options.setdefault("tooltip", inspect.getdoc(self.function) or "")
        options.setdefault("add_suffix_on_collision", True)
        return options

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with TaskGroup(**self._options()) as group:
            returned = self.function(*args, **kwargs)
        if isinstance(returned, DependencyMixin):
            return returned
        return group

    def override(self, **kwargs: Any) -> TaskGroupDecorator:
        return TaskGroupDecorator(self.function, {**self.kwargs, **kwargs})

    def partial(self, **kwargs: Any) -> PartialTaskGroup:
        """Fix some of the function's arguments before :meth:`PartialTaskGroup.expand`."""
        return PartialTaskGroup(self, kwargs)

    def expand(self, **kwargs: Any) -> Any:
        return self.partial().expand(**kwargs)

    def expand_kwargs(self, kwargs: Any, *, strict: bool = True) -> Any:
        return self.partial().expand_kwargs(kwargs, strict=strict)


class MappedArgument:
    """The argument a mapped task group is expanded over, as its function sees it."""

    def __init__(self, source: Any, name: str) -> None:
        self.source = source
        self.name = name

    def __repr__(self) -> str:
        return f"MappedArgument({self.name!r})"


class PartialTaskGroup:
    def __init__(self, decorator: TaskGroupDecorator, kwargs: dict[str, Any]) -> None:
        self.decorator = decorator
        self.kwargs = kwargs

    def _fail(self, problem: str) -> DagDefinitionError:
        return DagDefinitionError(f"@task_group {self.decorator.function.__name__!r}: {problem}")

    def expand(self, **mapped: Any) -> Any:
        if len(mapped) != 1:
            raise self._fail(
                f"expands over {sorted(mapped) or 'nothing'}; a mapped task group expands over "
                "exactly one argument here (zip several lists in an upstream @task)"
            )
        ((name, source),) = mapped.items()
        if not is_mappable_value(source):
            raise self._fail(
                f"cannot expand {name!r} over {source!r}: pass a list, a dict or a task's output"
            )
        with TaskGroup(**self.decorator._options()) as group, _active.mapped_group():
            returned = self.decorator.function(
                **self.kwargs, **{name: MappedArgument(source, name)}
            )
        if isinstance(returned, DependencyMixin):
            return returned
        return group

    def expand_kwargs(self, kwargs: Any, *, strict: bool = True) -> Any:
        raise self._fail(
            "expand_kwargs on a task group is not supported yet; use .expand(arg=...) with one "
            "argument"
        )


def task_group(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """``@task_group`` or ``@task_group(group_id=..., tooltip=..., default_args=...)``."""
    if python_callable is not None:
        return TaskGroupDecorator(python_callable, kwargs)
    return lambda function: TaskGroupDecorator(function, kwargs)
