"""The machinery behind ``@task`` and its variants.

``@task`` turns a function into a :class:`TaskDecorator`. Calling it inside a DAG creates one
operator (the class the variant names) whose callable is the function, and returns an
``XComArg`` for its return value. Calling it again creates another task with a ``__1``,
``__2`` … suffix. ``.override(...)`` changes operator arguments, ``.partial(...).expand(...)``
maps it.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airlock.models.dag import TriggerRule
from airlock.sdk.definitions import _active
from airlock.sdk.definitions.baseoperator import BaseOperator
from airlock.sdk.definitions.context import Context
from airlock.sdk.definitions.mappedoperator import OperatorPartial
from airlock.sdk.definitions.xcom_arg import XComArg
from airlock.sdk.exceptions import AirlockException, DagDefinitionError

#: Parameter names that the runtime fills from the context when the call does not.
CONTEXT_KEYS = frozenset(Context.__annotations__) | {"context"}


def check_call_arguments(
    function: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    dag_id: str | None,
    task_id: str,
) -> None:
    """Raise if the call can never bind to ``function`` (context parameters are optional)."""
    code = getattr(function, "__code__", None)
    if (
        code is not None
        and not args
        and not kwargs
        and code.co_argcount == 0
        and code.co_kwonlyargcount == 0
    ):
        return  # nothing to bind; skips inspect.signature, a hot spot when parsing many DAGs
    signature = inspect.signature(function)
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError as exc:
        raise DagDefinitionError(
            f"arguments do not match {function.__name__}{signature}: {exc}",
            dag_id=dag_id,
            task_id=task_id,
        ) from None
    missing = [
        name
        for name, p in signature.parameters.items()
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and name not in bound.arguments
        and name not in CONTEXT_KEYS
    ]
    if missing:
        raise DagDefinitionError(
            f"{function.__name__}() is missing argument(s) {missing}; pass them when calling "
            "the task",
            dag_id=dag_id,
            task_id=task_id,
        )


def infer_multiple_outputs(function: Callable[..., Any]) -> bool:
    """True when the function is annotated to return a dict."""
    try:
        hints = typing.get_type_hints(function)
    except Exception:
        return False
    returns = hints.get("return")
    if returns is None:
        return False
    origin = typing.get_origin(returns) or returns
    return isinstance(origin, type) and issubclass(origin, Mapping)


class DecoratedOperator(BaseOperator):
    """An operator whose work is a user function called with ``op_args`` / ``op_kwargs``."""

    custom_operator_name = "@task"
    template_fields: Sequence[str] = ("op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        task_id: str,
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        multiple_outputs: bool = False,
        kwargs_to_upstream: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            task_id=task_id,
            multiple_outputs=multiple_outputs,
            **(kwargs_to_upstream or {}),
            **kwargs,
        )
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        check_call_arguments(
            python_callable,
            self.op_args,
            self.op_kwargs,
            dag_id=self.dag.dag_id if self.dag else None,
            task_id=self.task_id,
        )

    def handle_output(self, value: Any, context: Any) -> Any:
        """With ``multiple_outputs``, push each key of the returned dict as its own XCom."""
        if not self.multiple_outputs or value is None:
            return value
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise AirlockException(
                f"task '{self.task_id}' has multiple_outputs=True, so it must return a dict "
                f"with string keys; it returned {type(value).__name__}"
            )
        ti = context.get("ti")
        if ti is not None:
            for key, item in value.items():
                ti.xcom_push(key, item)
        return value


class TaskDecorator:
    """A function decorated with ``@task`` (or a variant), not yet called."""

    def __init__(
        self,
        function: Callable[..., Any],
        operator_class: type[BaseOperator],
        *,
        multiple_outputs: bool | None = None,
        kwargs: dict[str, Any] | None = None,
        role: str | None = None,
        on_failure_fail_dagrun: bool = False,
    ) -> None:
        if not callable(function):
            raise DagDefinitionError(f"@task must decorate a function, got {function!r}")
        self.function = function
        self.operator_class = operator_class
        self.multiple_outputs = (
            infer_multiple_outputs(function) if multiple_outputs is None else multiple_outputs
        )
        self.kwargs = dict(kwargs or {})
        #: ``"setup"`` or ``"teardown"`` for ``@setup`` / ``@teardown`` functions.
        self.role = role
        self.on_failure_fail_dagrun = on_failure_fail_dagrun
        functools.update_wrapper(self, function)

    def _operator_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.kwargs)
        label = kwargs.pop("task_id", None) or self.function.__name__
        dag = kwargs.get("dag") or _active.current_dag()
        group = kwargs.get("task_group") or _active.current_group(dag)
        full_id = group.child_id(label) if group is not None else label
        if dag is not None and full_id in dag.task_dict:
            label += dag.unique_task_id(full_id)[len(full_id) :]
        kwargs["task_id"] = label
        kwargs.setdefault("doc_md", inspect.getdoc(self.function))
        if self.role == "teardown":
            kwargs["trigger_rule"] = TriggerRule.ALL_DONE_SETUP_SUCCESS
        return kwargs

    def _apply_role(self, operator: Any) -> None:
        if self.role == "setup":
            operator.is_setup = True
        elif self.role == "teardown":
            operator.is_teardown = True
            operator.on_failure_fail_dagrun = self.on_failure_fail_dagrun

    def _mapped_call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> XComArg | None:
        """Inside a mapped task group, a call that takes the group's argument (or the output
        of a task mapped inside the group) makes a mapped task; ``None`` otherwise."""
        from airlock.sdk.definitions.decorators.task_group import MappedArgument

        mapped_here = _active.innermost_mapped_group()
        if mapped_here is None:
            return None
        try:
            bound = inspect.signature(self.function).bind_partial(*args, **kwargs)
        except TypeError:
            return None
        static: dict[str, Any] = {}
        expand: dict[str, Any] = {}
        picked: dict[str, MappedArgument] = {}  # of an expand_kwargs group's dicts
        for name, value in bound.arguments.items():
            if isinstance(value, MappedArgument) and value.from_kwargs:
                picked[name] = value
            elif isinstance(value, MappedArgument):
                expand[name] = value.source
            elif isinstance(value, XComArg) and id(value.operator) in mapped_here:
                expand[name] = value
            else:
                static[name] = value
        if not expand and not picked:
            return None
        if len(expand) + bool(picked) > 1:
            raise DagDefinitionError(
                f"task {self.function.__name__!r} in a mapped task group takes several mapped "
                f"values ({sorted([*expand, *picked])}); it may take one (the group's "
                "argument, the group's expand_kwargs arguments, or one mapped task's output) "
                "here"
            )
        if picked:
            result = self.partial(**static).expand_kwargs(_pick(picked))
        else:
            result = self.partial(**static).expand(**expand)
        mapped_here.add(id(result.operator))
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        mapped = self._mapped_call(args, kwargs)
        if mapped is not None:
            return mapped
        operator = self.operator_class(
            python_callable=self.function,
            op_args=args,
            op_kwargs=kwargs,
            multiple_outputs=self.multiple_outputs,
            **self._operator_kwargs(),
        )
        self._apply_role(operator)
        return XComArg(operator)

    def override(self, **kwargs: Any) -> TaskDecorator:
        """A copy with other operator arguments (``task_id``, ``retries``, ``pool`` …)."""
        multiple_outputs = kwargs.pop("multiple_outputs", self.multiple_outputs)
        return TaskDecorator(
            self.function,
            self.operator_class,
            multiple_outputs=multiple_outputs,
            kwargs={**self.kwargs, **kwargs},
            role=self.role,
            on_failure_fail_dagrun=self.on_failure_fail_dagrun,
        )

    def partial(self, **kwargs: Any) -> PartialTaskDecorator:
        """Fix some of the function's arguments before ``expand``."""
        operator_kwargs = self._operator_kwargs()
        operator_kwargs.update(
            python_callable=self.function,
            op_kwargs=kwargs,
            multiple_outputs=self.multiple_outputs,
        )
        partial = OperatorPartial(
            operator_class=self.operator_class,
            kwargs=operator_kwargs,
            mapped_field="op_kwargs",
            function=self.function,
        )
        return PartialTaskDecorator(self, partial)

    def expand(self, **kwargs: Any) -> XComArg:
        return self.partial().expand(**kwargs)

    def expand_kwargs(self, kwargs: Any, *, strict: bool = True) -> XComArg:
        return self.partial().expand_kwargs(kwargs, strict=strict)


class PartialTaskDecorator:
    """``@task`` function with some arguments fixed; ``expand`` makes the mapped task."""

    def __init__(self, decorator: TaskDecorator, partial: OperatorPartial) -> None:
        self.decorator = decorator
        self.operator_partial = partial

    def _check_complete(self, names: set[str]) -> None:
        function = self.decorator.function
        fixed = set(self.operator_partial.kwargs.get("op_kwargs") or {})
        missing = [
            name
            for name, p in inspect.signature(function).parameters.items()
            if p.default is p.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and name not in fixed | names | CONTEXT_KEYS
        ]
        if missing:
            dag = _active.current_dag()
            raise DagDefinitionError(
                f"{function.__name__}() is missing argument(s) {missing}; give them to "
                "partial() or expand()",
                dag_id=dag.dag_id if dag else None,
                task_id=self.operator_partial.kwargs["task_id"],
            )

    def expand(self, **kwargs: Any) -> XComArg:
        dag = self.operator_partial.kwargs.get("dag") or _active.current_dag()
        for name in kwargs:
            self.operator_partial.check_name(name, dag)
        self._check_complete(set(kwargs))
        mapped = self.operator_partial.expand(**kwargs)
        self.decorator._apply_role(mapped)
        return XComArg(mapped)

    def expand_kwargs(self, kwargs: Any, *, strict: bool = True) -> XComArg:
        mapped = self.operator_partial.expand_kwargs(kwargs, strict=strict)
        self.decorator._apply_role(mapped)
        return XComArg(mapped)


def make_decorator(
    operator_class: type[BaseOperator],
    python_callable: Callable[..., Any] | None,
    multiple_outputs: bool | None,
    kwargs: dict[str, Any],
) -> Any:
    """Support both ``@task`` and ``@task(...)``."""
    if python_callable is not None:
        return TaskDecorator(
            python_callable, operator_class, multiple_outputs=multiple_outputs, kwargs=kwargs
        )

    def decorate(function: Callable[..., Any]) -> TaskDecorator:
        return TaskDecorator(
            function, operator_class, multiple_outputs=multiple_outputs, kwargs=kwargs
        )

    return decorate


def _pick(arguments: dict[str, Any]) -> Any:
    """Each dict of an ``expand_kwargs`` group's source, cut down to the keys one task takes
    (``{parameter: dict[key]}``): a literal list now, a task's output when the task runs."""
    source = next(iter(arguments.values())).source
    keys = {parameter: argument.name for parameter, argument in arguments.items()}

    def pick(item: Mapping[str, Any]) -> dict[str, Any]:
        return {parameter: item[key] for parameter, key in keys.items() if key in item}

    pick.__name__ = f"pick_{'_'.join(keys)}"
    if isinstance(source, XComArg):
        return source.map(pick)
    return [pick(item) for item in source]
