"""The DAG: a named graph of tasks with a schedule, and the ``@dag`` decorator.

``with DAG("etl", schedule="@daily") as dag:`` collects the tasks created inside; ``@dag``
builds the same from a function whose arguments become DAG params. Problems with the DAG as a
whole — a cycle, a duplicate task id, an invalid schedule, a param whose default breaks its own
schema — raise :class:`~airlock.sdk.exceptions.DagDefinitionError` while the file is parsed,
naming the DAG, the task and the problem. Adding tasks after the ``with`` block closed is
allowed, as in Airflow; :meth:`DAG.validate` runs again when the DAG is serialized.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pendulum

from airlock.models.dag import TriggerRule
from airlock.sdk.definitions import _active
from airlock.sdk.definitions.abstractoperator import validate_key
from airlock.sdk.definitions.asset_runs import (
    AssetRunPolicyBase,
    RunPerEvent,
    backlog_choice,
)
from airlock.sdk.definitions.deadline import deadline_alerts
from airlock.sdk.definitions.mixins import ResolveMixin
from airlock.sdk.definitions.param import NOTSET, ParamsDict
from airlock.sdk.definitions.taskgroup import TaskGroup
from airlock.sdk.definitions.timetables import ContinuousTimetable, Timetable, to_timetable
from airlock.sdk.exceptions import DagDefinitionError, ParamValidationError
from airlock.sdk.timezone import coerce_datetime, timezone_name

if TYPE_CHECKING:
    import jinja2

    from airlock.sdk.definitions.abstractoperator import AbstractOperator
    from airlock.sdk.execution_time.local_run import DagTestResult

_SDK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_TAG_LENGTH = 100


def _caller_file() -> str:
    """The first file up the stack that is not part of the SDK (the DAG file)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_SDK_DIR + os.sep):
            return filename
        frame = frame.f_back  # type: ignore[assignment]
    return ""


def _aware(value: Any, name: str, dag_id: str) -> pendulum.DateTime | None:
    """A pendulum ``DateTime`` for any date or datetime flavour (naive means UTC)."""
    if value is None:
        return None
    if not isinstance(value, date):
        raise DagDefinitionError(
            f"{name} must be a datetime (pendulum, or the standard library's), got "
            f"{type(value).__name__} {value!r}",
            dag_id=dag_id,
        )
    return coerce_datetime(value)


def _callbacks(value: Any, name: str, dag_id: str) -> list[Callable[..., Any]]:
    callbacks = [] if value is None else value if isinstance(value, list | tuple) else [value]
    for callback in callbacks:
        if not callable(callback):
            raise DagDefinitionError(
                f"{name} must be a callable or a list of callables, got {callback!r}",
                dag_id=dag_id,
            )
    return list(callbacks)


class DAG:
    """A workflow: tasks, their dependencies, and when runs happen."""

    def __init__(
        self,
        dag_id: str,
        description: str | None = None,
        schedule: Any = None,
        start_date: datetime | None = None,
        *,
        end_date: datetime | None = None,
        template_searchpath: str | Iterable[str] | None = None,
        template_undefined: Any = None,
        user_defined_macros: dict[str, Any] | None = None,
        user_defined_filters: dict[str, Any] | None = None,
        default_args: dict[str, Any] | None = None,
        max_active_tasks: int = 16,
        max_active_runs: int = 16,
        max_consecutive_failed_dag_runs: int = 0,
        dagrun_timeout: timedelta | None = None,
        catchup: bool = False,
        on_success_callback: Any = None,
        on_failure_callback: Any = None,
        doc_md: str | None = None,
        params: Mapping[str, Any] | None = None,
        access_control: Any = None,
        is_paused_upon_creation: bool | None = None,
        jinja_environment_kwargs: dict[str, Any] | None = None,
        render_template_as_native_obj: bool = False,
        tags: Iterable[str] | None = None,
        owner_links: dict[str, str] | None = None,
        auto_register: bool = True,
        fail_fast: bool = False,
        dag_display_name: str | None = None,
        disable_bundle_versioning: bool = False,
        deadline: Any = None,
        asset_run_policy: AssetRunPolicyBase | None = None,
        on_unpause: str = "run_backlog",
        fileloc: str | None = None,
    ) -> None:
        self.dag_id = validate_key("dag_id", dag_id)
        if default_args is not None and not isinstance(default_args, dict):
            raise DagDefinitionError(
                f"default_args must be a dict, got {type(default_args).__name__}", dag_id=dag_id
            )
        self.default_args: dict[str, Any] = dict(default_args or {})
        self.description = description
        self.schedule = schedule
        self.timetable: Timetable = self._timetable(schedule)
        start_date = start_date if start_date is not None else self.default_args.get("start_date")
        end_date = end_date if end_date is not None else self.default_args.get("end_date")
        self.start_date = _aware(start_date, "start_date", dag_id)
        self.end_date = _aware(end_date, "end_date", dag_id)
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise DagDefinitionError(
                f"end_date {self.end_date} is before start_date {self.start_date}", dag_id=dag_id
            )
        self.timezone = timezone_name(getattr(start_date, "tzinfo", None))
        self.catchup = bool(catchup)
        self.max_active_tasks = max_active_tasks
        self.max_active_runs = max_active_runs
        if isinstance(self.timetable, ContinuousTimetable) and max_active_runs > 1:
            raise DagDefinitionError(
                f"schedule '@continuous' allows one active run at a time, but max_active_runs "
                f"is {max_active_runs}; set max_active_runs=1",
                dag_id=dag_id,
            )
        self.max_consecutive_failed_dag_runs = max_consecutive_failed_dag_runs
        if dagrun_timeout is not None and not isinstance(dagrun_timeout, timedelta):
            raise DagDefinitionError(
                f"dagrun_timeout must be a timedelta, got {dagrun_timeout!r}", dag_id=dag_id
            )
        self.dagrun_timeout = dagrun_timeout
        self.on_success_callback = _callbacks(on_success_callback, "on_success_callback", dag_id)
        self.on_failure_callback = _callbacks(on_failure_callback, "on_failure_callback", dag_id)
        self.fileloc = fileloc or _caller_file()
        self.relative_fileloc: str | None = None
        self.doc_md = self._doc_md(doc_md)
        self.params = ParamsDict(self.default_args.get("params"))
        self.params.update(params or {})
        self.access_control = access_control
        self.is_paused_upon_creation = is_paused_upon_creation
        self.jinja_environment_kwargs = jinja_environment_kwargs
        self.render_template_as_native_obj = render_template_as_native_obj
        self.template_undefined = template_undefined
        self.user_defined_macros = user_defined_macros
        self.user_defined_filters = user_defined_filters
        if isinstance(template_searchpath, str):
            template_searchpath = [template_searchpath]
        self.template_searchpath: list[str] = list(template_searchpath or [])
        self.tags: set[str] = self._tags(tags)
        self.owner_links = owner_links or {}
        self.auto_register = auto_register
        self.fail_fast = fail_fast
        self.dag_display_name = dag_display_name
        self.disable_bundle_versioning = disable_bundle_versioning
        self.deadline = deadline_alerts(deadline, dag_id)
        if asset_run_policy is not None and not isinstance(asset_run_policy, AssetRunPolicyBase):
            raise DagDefinitionError(
                "asset_run_policy must be RunPerEvent(), RunAllQueued(), RunPerBatch(...) or "
                f"RunAfterQuiet(...), got {asset_run_policy!r}",
                dag_id=dag_id,
            )
        self.asset_run_policy: AssetRunPolicyBase = asset_run_policy or RunPerEvent()
        self.on_unpause = backlog_choice(on_unpause, dag_id)
        self.task_dict: dict[str, AbstractOperator] = {}
        self.task_group = TaskGroup(None, dag=self)
        self.edge_info: dict[tuple[str, str], str] = {}
        self._task_id_counters: dict[str, int] = {}
        self._template_env: jinja2.Environment | None = None
        if not _active.validation_deferred():  # else serializing this DAG checks them
            self._check_param_defaults()

    # --- construction helpers -----------------------------------------------------------------
    def _timetable(self, schedule: Any) -> Timetable:
        try:
            return to_timetable(schedule)
        except DagDefinitionError as exc:
            raise DagDefinitionError(exc.problem, dag_id=self.dag_id) from None

    def _tags(self, tags: Iterable[str] | None) -> set[str]:
        result: set[str] = set()
        for tag in tags or ():
            if not isinstance(tag, str) or len(tag) > MAX_TAG_LENGTH:
                raise DagDefinitionError(
                    f"tag {tag!r} must be a string of at most {MAX_TAG_LENGTH} characters",
                    dag_id=self.dag_id,
                )
            result.add(tag)
        return result

    def _doc_md(self, doc_md: str | None) -> str | None:
        if doc_md and doc_md.endswith(".md") and "\n" not in doc_md:
            path = os.path.join(os.path.dirname(self.fileloc), doc_md)
            try:
                with open(path, encoding="utf-8") as handle:
                    return handle.read()
            except OSError:
                return doc_md
        return doc_md

    def _check_param_defaults(self) -> None:
        for name, param in self.params.items_params():
            if not param.has_value:
                continue
            try:
                param.resolve()
            except ParamValidationError as exc:
                raise DagDefinitionError(
                    f"the default of param {name!r} is invalid: {exc}", dag_id=self.dag_id
                ) from None

    # --- tasks ----------------------------------------------------------------------------------
    def add_task(self, task: AbstractOperator) -> None:
        """Add ``task``; its id must be new in this DAG."""
        existing = self.task_dict.get(task.task_id)
        if existing is task:
            return
        if existing is not None:
            raise DagDefinitionError(
                f"duplicate task id: {task.task_id!r} is already used by another "
                f"{existing.operator_name} in this DAG; give each task a unique task_id",
                dag_id=self.dag_id,
                task_id=task.task_id,
            )
        group = task.task_group if task.task_group is not None else self.task_group
        if group.dag is not self:
            group = self.task_group
            task.task_group = group
        group.add(task)
        self.task_dict[task.task_id] = task
        task._dag = self
        _active.record_new_task(task)

    def add_tasks(self, tasks: Iterable[AbstractOperator]) -> None:
        for task in tasks:
            self.add_task(task)

    def unique_task_id(self, task_id: str) -> str:
        """``task_id``, or ``task_id__N`` if taken (decorated tasks called more than once)."""
        if task_id not in self.task_dict:
            return task_id
        counter = self._task_id_counters.get(task_id, 0)
        while True:
            counter += 1
            candidate = f"{task_id}__{counter}"
            if candidate not in self.task_dict:
                self._task_id_counters[task_id] = counter
                return candidate

    @property
    def tasks(self) -> list[AbstractOperator]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

    @property
    def task_count(self) -> int:
        return len(self.task_dict)

    def has_task(self, task_id: str) -> bool:
        return task_id in self.task_dict

    def get_task(self, task_id: str) -> AbstractOperator:
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise KeyError(f"task {task_id!r} not found in DAG {self.dag_id!r}") from None

    @property
    def roots(self) -> list[AbstractOperator]:
        return [t for t in self.task_dict.values() if not t.upstream_task_ids]

    @property
    def leaves(self) -> list[AbstractOperator]:
        return [t for t in self.task_dict.values() if not t.downstream_task_ids]

    @property
    def owner(self) -> str:
        return ", ".join(sorted({t.owner for t in self.task_dict.values()}))

    def set_edge_label(self, upstream_id: str, downstream_id: str, label: str) -> None:
        self.edge_info[(upstream_id, downstream_id)] = label

    def get_edge_label(self, upstream_id: str, downstream_id: str) -> str | None:
        return self.edge_info.get((upstream_id, downstream_id))

    def param(self, name: str, default: Any = NOTSET) -> DagParam:
        """A placeholder for param ``name``'s value at run time (for ``@dag`` arguments)."""
        return DagParam(self, name, default)

    # --- validation -----------------------------------------------------------------------------
    def find_cycle(self) -> list[str] | None:
        """A cycle as a path of task ids (first id repeated at the end), or ``None``."""
        tasks = self.task_dict
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        for start in sorted(tasks):
            if start in state:
                continue
            path = [start]
            stack = [iter(sorted(tasks[start].downstream_task_ids))]
            state[start] = 1
            while stack:
                following = next(stack[-1], None)
                if following is None:
                    state[path.pop()] = 2
                    stack.pop()
                elif state.get(following) == 1:
                    return [*path[path.index(following) :], following]
                elif following not in state and following in tasks:
                    state[following] = 1
                    path.append(following)
                    stack.append(iter(sorted(tasks[following].downstream_task_ids)))
        return None

    def check_cycle(self) -> None:
        cycle = self.find_cycle()
        if cycle is not None:
            raise DagDefinitionError(
                f"the DAG has a cycle: {' -> '.join(cycle)}; remove one of these dependencies",
                dag_id=self.dag_id,
                task_id=cycle[0],
            )

    def validate_setup_teardown(self) -> None:
        for task in self.task_dict.values():
            if not task.is_setup:
                continue
            for down in task.downstream_list:
                if not down.is_teardown and down.trigger_rule != TriggerRule.ALL_SUCCESS:
                    raise DagDefinitionError(
                        f"task {down.task_id!r} runs after setup task {task.task_id!r} so it "
                        f"must use trigger rule 'all_success', not '{down.trigger_rule}'",
                        dag_id=self.dag_id,
                        task_id=down.task_id,
                    )

    def validate(self) -> None:
        """Raise :class:`DagDefinitionError` if the DAG cannot be scheduled as it stands."""
        self.check_cycle()
        self.validate_setup_teardown()
        self._check_param_defaults()

    # --- templating -----------------------------------------------------------------------------
    def get_template_env(self) -> jinja2.Environment:
        if self._template_env is None:
            from airlock.sdk.definitions.templater import create_template_env

            searchpath = [os.path.dirname(self.fileloc) or os.getcwd(), *self.template_searchpath]
            options = dict(self.jinja_environment_kwargs or {})
            if self.template_undefined is not None:
                options.setdefault("undefined", self.template_undefined)
            self._template_env = create_template_env(
                searchpath=searchpath,
                native=self.render_template_as_native_obj,
                user_defined_macros=self.user_defined_macros,
                user_defined_filters=self.user_defined_filters,
                jinja_environment_kwargs=options,
            )
        return self._template_env

    # --- local runs -----------------------------------------------------------------------------
    def test(
        self,
        *,
        logical_date: datetime | None = None,
        run_id: str | None = None,
        conf: dict[str, Any] | None = None,
    ) -> DagTestResult:
        """Run the DAG once in this process, with no services (XComs kept in memory); returns
        each task's state. See :mod:`airlock.sdk.execution_time.local_run`."""
        from airlock.sdk.execution_time.local_run import run_dag

        return run_dag(self, logical_date=logical_date, run_id=run_id, conf=conf)

    # --- context manager ------------------------------------------------------------------------
    def __enter__(self) -> DAG:
        _active.push_dag(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        _active.pop_dag(self)
        if exc_type is None:
            try:
                self.validate()
            except DagDefinitionError:
                if not _active.validation_deferred():
                    raise
            if self.auto_register:
                _active.register_dag(self)

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"


class DagParam(ResolveMixin):
    """A ``@dag`` function argument: resolves to the run's value of param ``name``."""

    def __init__(self, dag: DAG, name: str, default: Any = NOTSET) -> None:
        if default is not NOTSET:
            dag.params[name] = default
        self.dag = dag
        self.param_name = name
        self.default = default

    def resolve(self, context: Any) -> Any:
        params = context.get("params") or {}
        if self.param_name in params:
            return params[self.param_name]
        if self.default is not NOTSET:
            return self.default
        raise ParamValidationError(f"no value for param {self.param_name!r}")

    def __repr__(self) -> str:
        return f"DagParam({self.param_name!r})"


def dag(dag_id: Any = None, **dag_kwargs: Any) -> Any:
    """``@dag`` / ``@dag(schedule=...)``: calling the function builds and returns a :class:`DAG`.

    The function's name is the default ``dag_id`` and its docstring the default ``doc_md``; its
    arguments become DAG params (their defaults, or the values the call passes).
    """

    def decorator(function: Callable[..., Any]) -> Callable[..., DAG]:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def factory(*args: Any, **kwargs: Any) -> DAG:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            options = dict(dag_kwargs)
            options.setdefault("doc_md", function.__doc__)
            options.setdefault("fileloc", inspect.getsourcefile(function) or "")
            the_id = dag_id if isinstance(dag_id, str) and dag_id else function.__name__
            with DAG(the_id, **options) as built:
                arguments = {
                    name: built.param(name, value) for name, value in bound.arguments.items()
                }
                function(**arguments)
            return built

        return factory

    if callable(dag_id):
        function, dag_id = dag_id, None
        return decorator(function)
    return decorator
