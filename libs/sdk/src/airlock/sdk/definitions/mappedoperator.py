"""Dynamic task mapping: ``Op.partial(...).expand(...)`` and ``.expand_kwargs(...)``.

A mapped task is one node of the graph that becomes N task instances per run, N being known only
when the run reaches it: the length of a literal list, or of the list an upstream task returned.
``expand(a=[1, 2], b=[x, y])`` makes the cross product (the last argument varies fastest);
``expand_kwargs([{...}, {...}])`` makes one instance per dict.

The scheduler only needs the mapping *spec* (serialized as ``MappedSpec``); the runtime builds
the concrete task of one map index with :meth:`MappedOperator.unmap` after
:meth:`MappedOperator.expand_kwargs_at` resolved that index's arguments.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airlock.sdk.definitions import _active
from airlock.sdk.definitions.abstractoperator import AbstractOperator
from airlock.sdk.definitions.baseoperator import (
    BaseOperator,
    accepted_arguments,
    merged_default_args,
)
from airlock.sdk.definitions.mixins import link
from airlock.sdk.definitions.xcom_arg import XComArg, iter_xcom_args
from airlock.sdk.exceptions import DagDefinitionError

if TYPE_CHECKING:
    from airlock.sdk.definitions.dag import DAG
    from airlock.sdk.definitions.taskgroup import TaskGroup


def _base_defaults() -> dict[str, Any]:
    signature = inspect.signature(inspect.unwrap(BaseOperator.__init__))
    return {
        name: param.default
        for name, param in signature.parameters.items()
        if param.default is not inspect.Parameter.empty
    }


#: BaseOperator's arguments and their defaults: fixed per task, never mappable.
BASE_DEFAULTS = _base_defaults()
_NOT_MAPPABLE = {"task_id", "dag", "task_group", "default_args", "params"}


def is_mappable_value(value: Any) -> bool:
    return isinstance(value, XComArg) or (
        isinstance(value, list | tuple | dict | range) and not isinstance(value, str | bytes)
    )


class OperatorPartial:
    """The result of ``partial(...)``: waits for ``expand`` or ``expand_kwargs``."""

    def __init__(
        self,
        *,
        operator_class: type[BaseOperator],
        kwargs: dict[str, Any],
        mapped_field: str | None = None,
        function: Callable[..., Any] | None = None,
    ) -> None:
        if "task_id" not in kwargs:
            raise DagDefinitionError(f"{operator_class.__name__}.partial() needs a task_id")
        self.operator_class = operator_class
        self.kwargs = dict(kwargs)
        self.mapped_field = mapped_field
        self.function = function

    def _fail(self, problem: str, dag: DAG | None) -> DagDefinitionError:
        return DagDefinitionError(
            problem, dag_id=dag.dag_id if dag else None, task_id=self.kwargs["task_id"]
        )

    def _partial_names(self) -> set[str]:
        if self.mapped_field is not None:
            return set(self.kwargs.get(self.mapped_field) or {})
        return set(self.kwargs)

    def check_name(self, name: str, dag: DAG | None) -> None:
        if name in self._partial_names():
            raise self._fail(
                f"argument {name!r} is given to both partial() and expand(); pass it to one",
                dag,
            )
        if self.function is not None:
            parameters = inspect.signature(self.function).parameters
            takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
            if name not in parameters and not takes_any:
                raise self._fail(
                    f"cannot expand {name!r}: {self.function.__name__}() has no such parameter "
                    f"(it takes {', '.join(parameters) or 'no arguments'})",
                    dag,
                )
            return
        if name in BASE_DEFAULTS or name in _NOT_MAPPABLE:
            raise self._fail(
                f"cannot expand {name!r}: task-level arguments such as retries, pool or "
                "trigger_rule are fixed per task; pass it to partial()",
                dag,
            )
        if name not in accepted_arguments(self.operator_class):
            raise self._fail(
                f"cannot expand {name!r}: {self.operator_class.__name__} has no such argument",
                dag,
            )

    def expand(self, **mapped_kwargs: Any) -> MappedOperator:
        """One task instance per element (cross product when several arguments are given)."""
        dag = self.kwargs.get("dag") or _active.current_dag()
        if not mapped_kwargs:
            raise self._fail("expand() needs at least one argument to map over", dag)
        for name, value in mapped_kwargs.items():
            self.check_name(name, dag)
            if not is_mappable_value(value):
                raise self._fail(
                    f"cannot expand argument {name!r}: expected a list, tuple, dict or the "
                    f"output of an upstream task (XComArg), got {type(value).__name__} "
                    f"{value!r}",
                    dag,
                )
        return MappedOperator(partial=self, expand_input=mapped_kwargs, expand_kwargs_input=None)

    def expand_kwargs(self, kwargs: Any, *, strict: bool = True) -> MappedOperator:
        """One task instance per dict of ``kwargs`` (a list of dicts or an upstream XComArg)."""
        dag = self.kwargs.get("dag") or _active.current_dag()
        if isinstance(kwargs, XComArg):
            pass
        elif isinstance(kwargs, Sequence) and not isinstance(kwargs, str | bytes):
            for index, item in enumerate(kwargs):
                if not isinstance(item, Mapping):
                    raise self._fail(
                        f"expand_kwargs() element {index} must be a dict of arguments, got "
                        f"{type(item).__name__} {item!r}",
                        dag,
                    )
                for name in item:
                    self.check_name(name, dag)
        else:
            raise self._fail(
                "expand_kwargs() takes a list of dicts or the output of an upstream task "
                f"(XComArg), got {type(kwargs).__name__} {kwargs!r}",
                dag,
            )
        return MappedOperator(partial=self, expand_input=None, expand_kwargs_input=kwargs)


class MappedOperator(AbstractOperator):
    """A task that runs once per element of its expanded input."""

    is_mapped = True

    def __init__(
        self,
        *,
        partial: OperatorPartial,
        expand_input: dict[str, Any] | None,
        expand_kwargs_input: Any,
    ) -> None:
        self._init_graph_node()
        cls = partial.operator_class
        self.operator_class = cls
        self.mapped_field = partial.mapped_field
        self.expand_input = expand_input
        self.expand_kwargs_input = expand_kwargs_input
        kwargs = dict(partial.kwargs)
        dag: DAG | None = kwargs.pop("dag", None) or _active.current_dag()
        group: TaskGroup | None = kwargs.pop("task_group", None) or _active.current_group(dag)
        default_args = merged_default_args(dag, group, kwargs.pop("default_args", None))
        accepted = accepted_arguments(cls)
        for name, value in default_args.items():
            if name in accepted and name not in kwargs and name != "params":
                kwargs[name] = value
        params = kwargs.pop("params", None)
        self._register(kwargs.pop("task_id"), dag, group)
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            raise DagDefinitionError(
                f"{cls.__name__}.partial() got unexpected argument(s) {unknown}",
                dag_id=dag.dag_id if dag else None,
                task_id=self.task_id,
            )
        self.partial_kwargs = kwargs
        task_args = {**BASE_DEFAULTS, **{k: v for k, v in kwargs.items() if k in BASE_DEFAULTS}}
        self._apply_task_args(task_args)
        self.default_args = default_args
        self.params = self._merge_params(default_args, params)
        self.template_fields = cls.template_fields
        self.template_ext = cls.template_ext
        self.custom_operator_name = cls.custom_operator_name
        self.ui_color = cls.ui_color
        self.is_branch = cls.is_branch
        self.is_short_circuit = cls.is_short_circuit
        self.inherits_from_empty_operator = cls.inherits_from_empty_operator
        for arg in self._iter_input_xcom_args():
            link(arg.operator, self)

    def _iter_input_xcom_args(self) -> Any:
        yield from iter_xcom_args(self.expand_input or {})
        yield from iter_xcom_args(self.expand_kwargs_input)
        for name in self.template_fields:
            yield from iter_xcom_args(self.partial_kwargs.get(name))

    @property
    def operator_name(self) -> str:
        return self.custom_operator_name or self.operator_class.__name__

    def partial_value(self, name: str, default: Any = None) -> Any:
        return self.partial_kwargs.get(name, default)

    # --- run time -----------------------------------------------------------------------------
    def _resolve_list(self, value: Any, context: Mapping[str, Any]) -> list[Any]:
        if isinstance(value, XComArg):
            value = value.resolve(context)
        if isinstance(value, dict):
            return list(value.items())
        if value is None or isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise TypeError(
                f"mapped task '{self.task_id}' cannot map over {type(value).__name__} "
                f"{value!r}: the upstream must return a list or dict"
            )
        return list(value)

    def expand_length(self, context: Mapping[str, Any]) -> int:
        """How many task instances this task has in the run ``context`` belongs to."""
        if self.expand_input is None:
            return len(self._resolve_list(self.expand_kwargs_input, context))
        length = 1
        for value in self.expand_input.values():
            length *= len(self._resolve_list(value, context))
        return length

    def expand_kwargs_at(self, context: Mapping[str, Any], map_index: int) -> dict[str, Any]:
        """The expanded arguments of task instance ``map_index``."""
        if self.expand_input is None:
            items = self._resolve_list(self.expand_kwargs_input, context)
            return dict(items[map_index])
        lists = {n: self._resolve_list(v, context) for n, v in self.expand_input.items()}
        total = 1
        for values in lists.values():
            total *= len(values)
        if not 0 <= map_index < total:
            raise IndexError(f"map_index {map_index} out of range for {total} instances")
        resolved: dict[str, Any] = {}
        for name in reversed(list(lists)):
            values = lists[name]
            map_index, position = divmod(map_index, len(values))
            resolved[name] = values[position]
        return {name: resolved[name] for name in lists}

    def unmap(self, expanded: Mapping[str, Any]) -> BaseOperator:
        """The concrete task of one map index, outside the DAG's task list."""
        kwargs = dict(self.partial_kwargs)
        if self.mapped_field is not None:
            kwargs[self.mapped_field] = {**(kwargs.get(self.mapped_field) or {}), **expanded}
        else:
            kwargs.update(expanded)
        kwargs["params"] = self.params
        with _active.detached():
            task = self.operator_class(task_id=self.task_id, **kwargs)
        task._dag = self._dag
        task.task_group = self.task_group
        task.upstream_task_ids = set(self.upstream_task_ids)
        task.downstream_task_ids = set(self.downstream_task_ids)
        task.is_setup, task.is_teardown = self.is_setup, self.is_teardown
        task.trigger_rule = self.trigger_rule
        return task
