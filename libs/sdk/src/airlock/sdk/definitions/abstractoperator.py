"""What every task in a DAG's graph has, mapped or not.

``BaseOperator`` (one task instance per run) and ``MappedOperator`` (one per element of its
expanded input) both derive from :class:`AbstractOperator`: an id, a place in a DAG and a task
group, upstream and downstream ids, setup/teardown roles, and the scheduling attributes the
scheduler reads from the serialized DAG (retries, pool, trigger rule …). Those attributes are
validated here once, by :meth:`AbstractOperator._apply_task_args`, for both kinds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airlock.models.dag import TriggerRule, WeightRule
from airlock.sdk.definitions import _active
from airlock.sdk.definitions.mixins import DependencyMixin, flatten
from airlock.sdk.definitions.param import ParamsDict
from airlock.sdk.definitions.priority_strategy import PriorityWeightStrategy
from airlock.sdk.definitions.retry_policy import RetryPolicy
from airlock.sdk.definitions.templater import Templater
from airlock.sdk.exceptions import DagDefinitionError
from airlock.sdk.timezone import coerce_datetime

if TYPE_CHECKING:
    from airlock.sdk.definitions.dag import DAG
    from airlock.sdk.definitions.taskgroup import TaskGroup
    from airlock.sdk.definitions.xcom_arg import XComArg

DEFAULT_OWNER = "airlock"
DEFAULT_POOL = "default_pool"
DEFAULT_QUEUE = "default"
DEFAULT_RETRY_DELAY = timedelta(seconds=300)
MAX_ID_LENGTH = 250
_ID_PATTERN = re.compile(r"^[\w.-]+$")
CALLBACK_NAMES = (
    "on_execute_callback",
    "on_success_callback",
    "on_failure_callback",
    "on_retry_callback",
    "on_skipped_callback",
)


def validate_key(kind: str, key: Any, *, dag_id: str | None = None) -> str:
    """Check a DAG, task or group id: letters, digits, ``_``, ``.``, ``-``; ≤ 250 characters."""
    if not isinstance(key, str) or not key:
        raise DagDefinitionError(f"{kind} must be a non-empty string, got {key!r}", dag_id=dag_id)
    if len(key) > MAX_ID_LENGTH:
        raise DagDefinitionError(
            f"{kind} {key[:40]!r}… is {len(key)} characters long; at most {MAX_ID_LENGTH}",
            dag_id=dag_id,
        )
    if not _ID_PATTERN.match(key):
        raise DagDefinitionError(
            f"{kind} {key!r} may only contain letters, digits, '_', '.' and '-'", dag_id=dag_id
        )
    return key


def as_timedelta(value: Any, name: str, *, dag_id: str | None, task_id: str | None) -> Any:
    """``timedelta`` from a timedelta or a number of seconds; ``None`` stays ``None``."""
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise DagDefinitionError(
        f"{name} must be a timedelta or a number of seconds, got {value!r}",
        dag_id=dag_id,
        task_id=task_id,
    )


class AbstractOperator(DependencyMixin, Templater):
    """A node of a DAG's graph."""

    task_id: str
    task_group: TaskGroup | None
    # Set by _apply_task_args for both plain and mapped tasks.
    trigger_rule: TriggerRule
    weight_rule: WeightRule
    retries: int
    priority_weight: int
    pool_slots: int
    retry_delay: timedelta
    max_retry_delay: timedelta | None
    execution_timeout: timedelta | None
    retry_exponential_backoff: bool
    owner: str
    pool: str
    queue: str
    depends_on_past: bool
    wait_for_downstream: bool
    max_active_tis_per_dag: int | None
    max_active_tis_per_dagrun: int | None
    do_xcom_push: bool
    on_execute_callback: list[Callable[..., Any]]
    on_success_callback: list[Callable[..., Any]]
    on_failure_callback: list[Callable[..., Any]]
    on_retry_callback: list[Callable[..., Any]]
    on_skipped_callback: list[Callable[..., Any]]
    params: ParamsDict
    default_args: dict[str, Any]
    custom_operator_name: str | None = None
    ui_color: str = "#fff"
    ui_fgcolor: str = "#000"
    is_branch: bool = False
    is_short_circuit: bool = False
    #: The scheduler completes these without a worker (``EmptyOperator`` with no callbacks).
    inherits_from_empty_operator: bool = False
    is_mapped: bool = False

    def _init_graph_node(self) -> None:
        self._dag: DAG | None = None
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        self.is_setup = False
        self.is_teardown = False
        self.on_failure_fail_dagrun = False

    # --- DAG membership ---------------------------------------------------------------------
    @property
    def dag(self) -> DAG | None:
        return self._dag

    @dag.setter
    def dag(self, dag: DAG | None) -> None:
        if dag is self._dag:
            return
        if self._dag is not None:
            raise DagDefinitionError(
                f"task is already in DAG '{self._dag.dag_id}'; a task belongs to one DAG",
                dag_id=dag.dag_id if dag else None,
                task_id=self.task_id,
            )
        if dag is not None:
            dag.add_task(self)

    def get_dag(self) -> DAG | None:
        return self._dag

    @property
    def dag_id(self) -> str:
        return self._dag.dag_id if self._dag is not None else f"adhoc_{self.owner}"

    @property
    def label(self) -> str:
        """The task id without its task-group prefix."""
        group = self.task_group
        if group is not None and group.group_id and group.prefix_group_id:
            prefix = group.group_id + "."
            if self.task_id.startswith(prefix):
                return self.task_id[len(prefix) :]
        return self.task_id

    @property
    def operator_name(self) -> str:
        return self.custom_operator_name or type(self).__name__

    def _register(self, task_id: str, dag: DAG | None, task_group: TaskGroup | None) -> None:
        """Give the task its full id (group prefix) and add it to its DAG."""
        dag = dag if dag is not None else _active.current_dag()
        if task_group is None:
            task_group = _active.current_group(dag)
        elif dag is None:
            dag = task_group.dag
        dag_id = dag.dag_id if dag is not None else None
        validate_key("task_id", task_id, dag_id=dag_id)
        self.task_group = task_group
        self.task_id = task_group.child_id(task_id) if task_group is not None else task_id
        if dag is not None:
            dag.add_task(self)

    # --- scheduling attributes ----------------------------------------------------------------
    def _apply_task_args(self, args: dict[str, Any]) -> None:
        """Validate and set the attributes every task has (from kwargs or partial kwargs)."""
        dag_id = self._dag.dag_id if self._dag is not None else None
        task_id = self.task_id

        def fail(problem: str) -> DagDefinitionError:
            return DagDefinitionError(problem, dag_id=dag_id, task_id=task_id)

        rule = args["trigger_rule"]
        if not TriggerRule.is_valid(str(rule)):
            raise fail(
                f"unknown trigger_rule {rule!r}; valid trigger rules are: "
                + ", ".join(sorted(TriggerRule.all_triggers()))
            )
        self.trigger_rule = TriggerRule(str(rule))
        weight_rule = args["weight_rule"]
        self.weight_strategy: PriorityWeightStrategy | None = None
        if isinstance(weight_rule, PriorityWeightStrategy):
            # Evaluated when the DAG is serialized (priority_strategy says why).
            self.weight_strategy, weight_rule = weight_rule, WeightRule.ABSOLUTE
        elif isinstance(weight_rule, type) and issubclass(weight_rule, PriorityWeightStrategy):
            raise fail(
                f"weight_rule={weight_rule.__name__} is a class; pass an instance: "
                f"weight_rule={weight_rule.__name__}()"
            )
        if str(weight_rule) not in WeightRule._value2member_map_:
            raise fail(
                f"unknown weight_rule {weight_rule!r}; use one of "
                + ", ".join(w.value for w in WeightRule)
                + " or an instance of a PriorityWeightStrategy subclass"
            )
        self.weight_rule = WeightRule(str(weight_rule))
        try:
            self.retries = int(args["retries"] or 0)
            self.priority_weight = int(args["priority_weight"])
            self.pool_slots = int(args["pool_slots"])
        except (TypeError, ValueError) as exc:
            raise fail(
                f"retries, priority_weight and pool_slots must be integers ({exc})"
            ) from None
        if self.retries < 0:
            raise fail(f"retries must be 0 or more, got {self.retries}")
        if self.pool_slots < 1:
            raise fail(f"pool_slots must be at least 1, got {self.pool_slots}")
        for name in ("retry_delay", "max_retry_delay", "execution_timeout"):
            setattr(self, name, as_timedelta(args[name], name, dag_id=dag_id, task_id=task_id))
        if self.retry_delay is None:
            self.retry_delay = DEFAULT_RETRY_DELAY
        self.retry_exponential_backoff = bool(args["retry_exponential_backoff"])
        policy = args.get("retry_policy")
        if policy is not None and not isinstance(policy, RetryPolicy):
            raise fail(
                f"retry_policy must be a RetryPolicy (ExceptionRetryPolicy or a subclass of "
                f"RetryPolicy), got {type(policy).__name__}: {policy!r}"
            )
        self.retry_policy: RetryPolicy | None = policy
        self.owner = str(args["owner"] or DEFAULT_OWNER)
        self.pool = args["pool"] or DEFAULT_POOL
        self.queue = args["queue"] or DEFAULT_QUEUE
        self.depends_on_past = bool(args["depends_on_past"])
        self.wait_for_downstream = bool(args["wait_for_downstream"])
        if self.wait_for_downstream:
            self.depends_on_past = True
        self.max_active_tis_per_dag = args["max_active_tis_per_dag"]
        self.max_active_tis_per_dagrun = args["max_active_tis_per_dagrun"]
        try:
            self.start_date: datetime | None = coerce_datetime(args["start_date"])
            self.end_date: datetime | None = coerce_datetime(args["end_date"])
        except TypeError as exc:
            raise fail(f"start_date and end_date must be datetimes: {exc}") from None
        self.do_xcom_push = bool(args["do_xcom_push"])
        self.doc_md: str | None = args["doc_md"]
        self.doc = args["doc"]
        self.task_display_name: str | None = args["task_display_name"]
        for name in CALLBACK_NAMES:
            setattr(self, name, self._callbacks(name, args[name], fail))
        self.inlets: list[Any] = list(flatten_assets(args["inlets"]))
        self.outlets: list[Any] = list(flatten_assets(args["outlets"]))
        self.executor = args["executor"]
        self.executor_config = args["executor_config"] or {}

    @staticmethod
    def _callbacks(
        name: str, value: Any, fail: Callable[[str], DagDefinitionError]
    ) -> list[Callable[..., Any]]:
        callbacks = [] if value is None else value if isinstance(value, list | tuple) else [value]
        for callback in callbacks:
            if not callable(callback):
                raise fail(f"{name} must be a callable or a list of callables, got {callback!r}")
        return list(callbacks)

    def _merge_params(self, default_args: dict[str, Any], params: Any) -> ParamsDict:
        merged = ParamsDict(default_args.get("params"))
        if params:
            merged.update(params)
        return merged

    # --- graph --------------------------------------------------------------------------------
    @property
    def roots(self) -> list[AbstractOperator]:
        return [self]

    @property
    def leaves(self) -> list[AbstractOperator]:
        return [self]

    def _relatives(self, ids: Iterable[str]) -> list[AbstractOperator]:
        if self._dag is None:
            return []
        return [self._dag.task_dict[i] for i in sorted(ids) if i in self._dag.task_dict]

    @property
    def upstream_list(self) -> list[AbstractOperator]:
        return self._relatives(self.upstream_task_ids)

    @property
    def downstream_list(self) -> list[AbstractOperator]:
        return self._relatives(self.downstream_task_ids)

    def get_direct_relative_ids(self, upstream: bool = False) -> set[str]:
        return self.upstream_task_ids if upstream else self.downstream_task_ids

    def get_flat_relative_ids(self, upstream: bool = False) -> set[str]:
        """Every task id reachable upstream (or downstream) of this task."""
        if self._dag is None:
            return set(self.get_direct_relative_ids(upstream))
        tasks = self._dag.task_dict
        seen: set[str] = set()
        stack = list(self.get_direct_relative_ids(upstream))
        while stack:
            task_id = stack.pop()
            if task_id in seen:
                continue
            seen.add(task_id)
            relative = tasks.get(task_id)
            if relative is not None:
                stack.extend(relative.get_direct_relative_ids(upstream))
        return seen

    @property
    def output(self) -> XComArg:
        """The task's return value, as an argument for other tasks."""
        from airlock.sdk.definitions.xcom_arg import XComArg

        return XComArg(self)

    # --- setup / teardown ----------------------------------------------------------------------
    def as_setup(self) -> AbstractOperator:
        self.is_setup = True
        return self

    def as_teardown(
        self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None
    ) -> AbstractOperator:
        """Mark as a teardown: it runs once its setups are done, whatever the work's outcome."""
        self.is_teardown = True
        self.trigger_rule = TriggerRule.ALL_DONE_SETUP_SUCCESS
        if on_failure_fail_dagrun is not None:
            self.on_failure_fail_dagrun = on_failure_fail_dagrun
        if setups is not None:
            for setup in flatten(setups):
                for task in setup.leaves:
                    task.is_setup = True
                setup.set_downstream(self)
        return self

    def __enter__(self) -> AbstractOperator:
        """``with setup >> teardown:`` — tasks created inside run between the two."""
        if not (self.is_setup or self.is_teardown):
            raise DagDefinitionError(
                "only setup or teardown tasks can be used as context managers; "
                "mark it with .as_setup() / .as_teardown() or use @setup / @teardown",
                dag_id=self._dag.dag_id if self._dag else None,
                task_id=self.task_id,
            )
        if self.is_teardown:
            teardowns: list[AbstractOperator] = [self]
            setups = [t for t in self.upstream_list if t.is_setup]
        else:
            setups = [self]
            teardowns = [t for t in self.downstream_list if t.is_teardown]
        _active.push_setup_teardown(_active.SetupTeardownFrame(setups, teardowns))
        return self

    def __exit__(self, *exc: object) -> None:
        frame = _active.pop_setup_teardown()
        new_ids = {t.task_id for t in frame.tasks}
        first = [t for t in frame.tasks if not t.upstream_task_ids & new_ids]
        last = [t for t in frame.tasks if not t.downstream_task_ids & new_ids]
        for setup in frame.setups:
            for task in first:
                setup.set_downstream(task)
        for teardown in frame.teardowns:
            for task in last:
                task.set_downstream(teardown)

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"


def flatten_assets(value: Any) -> list[Any]:
    """``inlets`` / ``outlets`` as a list (a single asset or alias is allowed)."""
    if value is None:
        return []
    if isinstance(value, list | tuple | set):
        return list(value)
    return [value]
