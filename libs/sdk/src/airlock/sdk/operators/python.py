"""PythonOperator and its branching variants.

The callable receives ``op_args`` positionally, then as keywords ``op_kwargs`` and the context
entries its signature asks for: a parameter named like a context key (``ti``, ``ds``,
``params`` …) gets that value, and ``**kwargs`` gets the whole context. ``op_kwargs`` win over
context keys of the same name.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from airlock.sdk.bases.branch import BranchDecision, branch_decision, short_circuit_decision
from airlock.sdk.definitions.asset import Metadata
from airlock.sdk.definitions.baseoperator import BaseOperator
from airlock.sdk.exceptions import DagDefinitionError


def determine_kwargs(
    function: Callable[..., Any], args: Collection[Any], available: Mapping[str, Any]
) -> dict[str, Any]:
    """The keyword arguments of ``available`` that ``function`` accepts after ``args``."""
    positional, by_keyword, any_keyword = _parameters(function)
    taken = set(positional[: len(args)])
    if any_keyword:
        return {k: v for k, v in available.items() if k not in taken}
    return {name: available[name] for name in by_keyword if name in available and name not in taken}


def _parameters(function: Callable[..., Any]) -> tuple[Sequence[str], Sequence[str], bool]:
    """Names that can be passed by position, names that can be passed by keyword (in order),
    and whether it takes ``**kwargs``.

    A plain function answers from its code object: ``inspect.signature`` builds a Parameter per
    argument, which a task process (forked, copying every page it writes) pays for each task.
    """
    if (
        type(function) is types.FunctionType
        and not hasattr(function, "__wrapped__")
        and "__signature__" not in function.__dict__
    ):
        code = function.__code__
        names = code.co_varnames
        n_positional = code.co_argcount
        n_keyword_only = code.co_kwonlyargcount
        return (
            names[:n_positional],
            names[code.co_posonlyargcount : n_positional + n_keyword_only],
            bool(code.co_flags & inspect.CO_VARKEYWORDS),
        )
    parameters = inspect.signature(function).parameters.values()
    return (
        [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)],
        [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)],
        any(p.kind is p.VAR_KEYWORD for p in parameters),
    )


class PythonOperator(BaseOperator):
    """Run a Python callable."""

    template_fields = ("templates_dict", "op_args", "op_kwargs")
    template_fields_renderers = {"templates_dict": "json", "op_args": "py", "op_kwargs": "py"}
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        templates_exts: list[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise DagDefinitionError(
                f"python_callable must be callable, got {python_callable!r}",
                dag_id=self.dag.dag_id if self.dag else None,
                task_id=self.task_id,
            )
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict
        if templates_exts:
            self.template_ext = templates_exts
        self.show_return_value_in_logs = show_return_value_in_logs

    def execute(self, context: Any) -> Any:
        available = {**context, **self.op_kwargs, "templates_dict": self.templates_dict}
        kwargs = determine_kwargs(self.python_callable, self.op_args, available)
        result = self.python_callable(*self.op_args, **kwargs)
        if inspect.iscoroutine(result):
            # an ``async def`` callable: the task runs it to completion on its own event loop
            # (asyncio imported here: it and the ssl it pulls in would cost every task process
            # and the worker's zygote ~4 MB for the few tasks that are coroutines)
            import asyncio

            return asyncio.run(result)
        if inspect.isgenerator(result):
            return _drain_metadata(result, context)
        return result


def _drain_metadata(generator: Any, context: Any) -> Any:
    """Run a generator task: each yielded :class:`Metadata` becomes its outlet event's extra;
    the generator's ``return`` value is the task's."""
    outlet_events = context["outlet_events"]
    while True:
        try:
            item = next(generator)
        except StopIteration as stop:
            return stop.value
        if not isinstance(item, Metadata):
            raise TypeError(
                f"a task may yield only airlock.sdk.Metadata objects, got {item!r}; return "
                "values instead"
            )
        if item.alias is not None:
            outlet_events[item.alias].add(item.asset, item.extra)
        else:
            outlet_events[item.asset].extra.update(item.extra)


class BranchPythonOperator(PythonOperator):
    """The callable returns the task id(s) to follow; other direct downstream tasks skip."""

    is_branch = True

    def execute(self, context: Any) -> BranchDecision:
        return branch_decision(self, super().execute(context))


class ShortCircuitOperator(PythonOperator):
    """Continue only if the callable returns something truthy.

    With ``ignore_downstream_trigger_rules=True`` (the default) a falsy result skips every task
    downstream; with ``False`` only the direct downstream tasks are skipped and trigger rules
    decide for the rest.
    """

    is_short_circuit = True
    ui_color = "#f0ede4"

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    def execute(self, context: Any) -> BranchDecision:
        condition = super().execute(context)
        return short_circuit_decision(self, condition, self.ignore_downstream_trigger_rules)


def __getattr__(name: str) -> Any:
    # Airflow keeps these in the same module as PythonOperator; here they live beside it.
    if name in ("PythonVirtualenvOperator", "ExternalPythonOperator"):
        from airlock.sdk.operators import python_virtualenv

        return getattr(python_virtualenv, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
