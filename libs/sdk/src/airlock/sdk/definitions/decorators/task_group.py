"""``@task_group``: calling the function creates a TaskGroup around the tasks it creates.

The group id defaults to the function name (``__1``, ``__2`` … when called again) and the
tooltip to its docstring. The call returns what the function returns if that is a task or
XComArg (so dependencies bind to it), else the group itself.

``@task_group`` functions can be mapped: ``group.partial(…).expand(arg=values)`` runs the
function once with a :class:`MappedArgument` for ``arg``, and each ``@task`` called with it (or
with the output of a task mapped the same way inside the group) becomes a mapped task; instance
``i`` of every such task works on item ``i``. ``group.expand_kwargs(dicts)`` does the same with
one dict of arguments per instance: each of the function's arguments is a
:class:`MappedArgument` picking its key, and a ``@task`` called with some of them is expanded
over those keys of each dict (``expand_kwargs``). What the group returns, seen from outside, is
the list of all instances' outputs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from airlock.sdk.definitions import _active
from airlock.sdk.definitions.mappedoperator import is_mappable_value
from airlock.sdk.definitions.mixins import DependencyMixin
from airlock.sdk.definitions.taskgroup import TaskGroup
from airlock.sdk.definitions.xcom_arg import XComArg
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
    """The argument a mapped task group is expanded over, as its function sees it: the items
    of ``source`` (``expand``) or, with ``from_kwargs``, the ``name`` key of each of the dicts
    of ``source`` (``expand_kwargs``)."""

    def __init__(self, source: Any, name: str, *, from_kwargs: bool = False) -> None:
        self.source = source
        self.name = name
        self.from_kwargs = from_kwargs

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
        return self._build({name: MappedArgument(source, name)})

    def expand_kwargs(self, kwargs: Any, *, strict: bool = True) -> Any:
        """One group instance per dict of ``kwargs`` (a list of dicts or a task's output)."""
        parameters = inspect.signature(self.decorator.function).parameters
        if isinstance(kwargs, XComArg):
            names = [n for n in parameters if n not in self.kwargs]
        elif isinstance(kwargs, list | tuple):
            names = []
            for index, item in enumerate(kwargs):
                if not isinstance(item, Mapping):
                    raise self._fail(
                        f"expand_kwargs() element {index} must be a dict of arguments, got "
                        f"{type(item).__name__} {item!r}"
                    )
                for key in item:
                    if key not in parameters or key in self.kwargs:
                        raise self._fail(
                            f"expand_kwargs() element {index} sets {key!r}, which is "
                            + ("given to partial()" if key in self.kwargs else "no parameter")
                            + f" of the group (it takes {', '.join(parameters) or 'none'})"
                        )
                    if key not in names:
                        names.append(key)
        else:
            raise self._fail(
                "expand_kwargs() takes a list of dicts or the output of an upstream task "
                f"(XComArg), got {type(kwargs).__name__} {kwargs!r}"
            )
        return self._build({n: MappedArgument(kwargs, n, from_kwargs=True) for n in names})

    def _build(self, mapped: dict[str, MappedArgument]) -> Any:
        with TaskGroup(**self.decorator._options()) as group, _active.mapped_group():
            returned = self.decorator.function(**self.kwargs, **mapped)
        if isinstance(returned, DependencyMixin):
            return returned
        return group


def task_group(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """``@task_group`` or ``@task_group(group_id=..., tooltip=..., default_args=...)``."""
    if python_callable is not None:
        return TaskGroupDecorator(python_callable, kwargs)
    return lambda function: TaskGroupDecorator(function, kwargs)
