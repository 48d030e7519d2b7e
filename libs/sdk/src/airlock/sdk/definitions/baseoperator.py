"""BaseOperator: the class every task derives from, plus ``chain`` and ``cross_downstream``.

Operators are created with keyword arguments only. Each subclass's ``__init__`` is wrapped (see
:func:`_apply_defaults`) so that, once per instantiation, ``default_args`` from the DAG, the
enclosing task groups and the call itself fill every argument the call left out, and after the
whole ``__init__`` chain ran, XComArgs found in template fields become upstream dependencies.
"""

from __future__ import annotations

import functools
import inspect
import itertools
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airlock.models.dag import TriggerRule, WeightRule
from airlock.sdk.definitions import _active
from airlock.sdk.definitions.abstractoperator import (
    DEFAULT_OWNER,
    DEFAULT_QUEUE,
    DEFAULT_RETRY_DELAY,
    AbstractOperator,
)
from airlock.sdk.definitions.mixins import DependencyMixin, flatten, link
from airlock.sdk.definitions.xcom_arg import iter_xcom_args
from airlock.sdk.exceptions import DagDefinitionError, TaskDeferralError, TaskDeferred

if TYPE_CHECKING:
    from airlock.sdk.bases.trigger import BaseTrigger
    from airlock.sdk.definitions.context import Context
    from airlock.sdk.definitions.dag import DAG
    from airlock.sdk.definitions.mappedoperator import OperatorPartial
    from airlock.sdk.definitions.taskgroup import TaskGroup

_accepted_cache: dict[type, frozenset[str]] = {}


def accepted_arguments(cls: type) -> frozenset[str]:
    """Names of the keyword arguments the ``__init__`` chain of ``cls`` declares."""
    cached = _accepted_cache.get(cls)
    if cached is None:
        names: set[str] = set()
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            for param in inspect.signature(inspect.unwrap(init)).parameters.values():
                if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                    names.add(param.name)
        names.discard("self")
        cached = _accepted_cache[cls] = frozenset(names)
    return cached


def merged_default_args(
    dag: DAG | None, group: TaskGroup | None, explicit: dict[str, Any] | None
) -> dict[str, Any]:
    """DAG default_args < enclosing groups' < the task's own ``default_args``."""
    merged: dict[str, Any] = {}
    if dag is not None:
        merged.update(dag.default_args)
    if group is not None:
        merged.update(group.merged_default_args())
    merged.update(explicit or {})
    return merged


def _apply_defaults(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def wrapper(self: BaseOperator, *args: Any, **kwargs: Any) -> None:
        if self.__dict__.get("_in_init"):
            init(self, *args, **kwargs)
            return
        if args:
            raise DagDefinitionError(
                f"{type(self).__name__} takes keyword arguments only, got {len(args)} "
                "positional argument(s)",
                task_id=kwargs.get("task_id"),
            )
        self.__dict__["_in_init"] = True
        try:
            dag = kwargs.get("dag") or _active.current_dag()
            group = kwargs.get("task_group") or _active.current_group(dag)
            default_args = merged_default_args(dag, group, kwargs.get("default_args"))
            accepted = accepted_arguments(type(self))
            for name, value in default_args.items():
                if name in accepted and name not in kwargs and name != "params":
                    kwargs[name] = value
            kwargs["default_args"] = default_args
            init(self, **kwargs)
            self._set_xcomargs_dependencies()
        finally:
            del self.__dict__["_in_init"]

    wrapper.__airlock_wrapped__ = True  # type: ignore[attr-defined]
    return wrapper


class BaseOperator(AbstractOperator):
    """A task: subclasses implement :meth:`execute`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "__airlock_wrapped__", False):
            cls.__init__ = _apply_defaults(init)  # type: ignore[method-assign]

    def __init__(
        self,
        *,
        task_id: str,
        owner: str = DEFAULT_OWNER,
        email: str | Sequence[str] | None = None,
        email_on_retry: bool = True,
        email_on_failure: bool = True,
        retries: int | None = 0,
        retry_delay: timedelta | float = DEFAULT_RETRY_DELAY,
        retry_exponential_backoff: bool = False,
        max_retry_delay: timedelta | float | None = None,
        retry_policy: Any = None,
        start_date: Any = None,
        end_date: Any = None,
        depends_on_past: bool = False,
        ignore_first_depends_on_past: bool = True,
        wait_for_past_depends_before_skipping: bool = False,
        wait_for_downstream: bool = False,
        dag: DAG | None = None,
        params: Any = None,
        default_args: dict[str, Any] | None = None,
        priority_weight: int = 1,
        weight_rule: str | WeightRule = WeightRule.DOWNSTREAM,
        queue: str = DEFAULT_QUEUE,
        pool: str | None = None,
        pool_slots: int = 1,
        execution_timeout: timedelta | float | None = None,
        on_execute_callback: Any = None,
        on_failure_callback: Any = None,
        on_success_callback: Any = None,
        on_retry_callback: Any = None,
        on_skipped_callback: Any = None,
        pre_execute: Callable[..., Any] | None = None,
        post_execute: Callable[..., Any] | None = None,
        trigger_rule: str | TriggerRule = TriggerRule.ALL_SUCCESS,
        resources: Any = None,
        run_as_user: str | None = None,
        map_index_template: str | None = None,
        max_active_tis_per_dag: int | None = None,
        max_active_tis_per_dagrun: int | None = None,
        executor: str | None = None,
        executor_config: dict[str, Any] | None = None,
        do_xcom_push: bool = True,
        multiple_outputs: bool = False,
        inlets: Any = None,
        outlets: Any = None,
        task_group: TaskGroup | None = None,
        doc: str | None = None,
        doc_md: str | None = None,
        doc_json: str | None = None,
        doc_yaml: str | None = None,
        doc_rst: str | None = None,
        task_display_name: str | None = None,
        logger_name: str | None = None,
        allow_nested_operators: bool = True,
        **kwargs: Any,
    ) -> None:
        self._init_graph_node()
        self._register(task_id, dag, task_group)
        if kwargs:
            raise DagDefinitionError(
                f"{type(self).__name__} got unexpected argument(s) {sorted(kwargs)}; check the "
                "spelling or remove them",
                dag_id=self._dag.dag_id if self._dag else None,
                task_id=self.task_id,
            )
        args = dict(locals())
        self._apply_task_args(args)
        self.default_args = default_args or {}
        self.params = self._merge_params(self.default_args, params)
        self.multiple_outputs = multiple_outputs
        self.map_index_template = map_index_template
        self.email = email
        self.run_as_user = run_as_user
        self.resources = resources
        self._pre_execute_hook = pre_execute
        self._post_execute_hook = post_execute
        self.logger_name = logger_name

    def _set_xcomargs_dependencies(self) -> None:
        """XComArgs passed in template fields make their tasks upstream of this one."""
        for name in self.template_fields:
            for arg in iter_xcom_args(getattr(self, name, None)):
                link(arg.operator, self)

    # --- mapping ------------------------------------------------------------------------------
    @classmethod
    def partial(cls, **kwargs: Any) -> OperatorPartial:
        """Fix some arguments, then ``.expand(...)`` the others into one task per element."""
        from airlock.sdk.definitions.mappedoperator import OperatorPartial

        return OperatorPartial(operator_class=cls, kwargs=kwargs)

    # --- run time -----------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        """Do the work; the return value is pushed to XCom as ``return_value``."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute()")

    def pre_execute(self, context: Context) -> None:
        if self._pre_execute_hook is not None:
            self._pre_execute_hook(context)

    def post_execute(self, context: Context, result: Any = None) -> None:
        if self._post_execute_hook is not None:
            self._post_execute_hook(context, result)

    def on_kill(self) -> None:
        """Called when the task is killed; release external resources here."""

    def defer(
        self,
        *,
        trigger: BaseTrigger,
        method_name: str,
        kwargs: dict[str, Any] | None = None,
        timeout: timedelta | float | None = None,
    ) -> NoReturn:
        """Hand the rest of the wait to the triggerer and free this worker slot: the task
        resumes on a worker with ``method_name(context, event, **kwargs)`` once ``trigger``
        fires, and fails if it has not fired within ``timeout``."""
        raise TaskDeferred(trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context
    ) -> Any:
        """Continue after a deferral: call ``next_method`` with the trigger's event (a failed
        trigger raises :class:`~airlock.sdk.exceptions.TaskDeferralError` here instead)."""
        kwargs = dict(next_kwargs or {})
        if next_method == "__succeed__":  # the trigger sent a TaskSuccessEvent
            return None
        if next_method == "__fail__":
            raise TaskDeferralError(
                f"the trigger failed: {kwargs.get('error') or 'no reason given'}"
                + (f"\n{kwargs['traceback']}" if kwargs.get("traceback") else "")
            )
        method = getattr(self, next_method, None)
        if method is None:
            raise TaskDeferralError(
                f"{type(self).__name__} has no method {next_method!r} to resume with after its "
                "deferral; pass an existing method name to defer(method_name=...)"
            )
        return method(context, **kwargs)


BaseOperator.__init__ = _apply_defaults(BaseOperator.__init__)  # type: ignore[method-assign]


# --- dependency helpers ---------------------------------------------------------------------------


def chain(*tasks: DependencyMixin | Sequence[DependencyMixin]) -> None:
    """``chain(a, [b, c], d)``: each element upstream of the next; equal-length lists pair up."""
    for up, down in itertools.pairwise(tasks):
        up_is_list = not isinstance(up, DependencyMixin)
        down_is_list = not isinstance(down, DependencyMixin)
        if up_is_list and down_is_list:
            ups, downs = flatten(up), flatten(down)
            if len(ups) != len(downs):
                raise DagDefinitionError(
                    f"chain() pairs lists element by element, but got lists of {len(ups)} and "
                    f"{len(downs)} elements; use cross_downstream() or chain_linear() to link "
                    "every element to every element"
                )
            for u, d in zip(ups, downs, strict=True):
                u.set_downstream(d)
        elif up_is_list:
            for u in flatten(up):
                u.set_downstream(down)
        else:
            up.set_downstream(down)  # type: ignore[union-attr]


def chain_linear(*elements: DependencyMixin | Sequence[DependencyMixin]) -> None:
    """Every task of each element upstream of every task of the next element."""
    if len(elements) < 2:
        raise DagDefinitionError("chain_linear() needs at least two elements")
    for up, down in itertools.pairwise(elements):
        for u in flatten(up):
            u.set_downstream(flatten(down))


def cross_downstream(
    from_tasks: Sequence[DependencyMixin], to_tasks: DependencyMixin | Sequence[DependencyMixin]
) -> None:
    """Every task of ``from_tasks`` upstream of every task of ``to_tasks``."""
    for task in flatten(from_tasks):
        task.set_downstream(to_tasks)
