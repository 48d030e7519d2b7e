"""XComArg: a reference to a value an upstream task will return at run time.

Calling a ``@task`` function returns one, and so does ``operator.output``. Passing it to another
task both makes the dependency (``extract`` becomes upstream of ``load``) and, at run time, pulls
the value from XCom. ``xcom_arg["key"]`` refers to one key of a ``multiple_outputs`` task.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from airlock.sdk.definitions.mixins import DependencyMixin, ResolveMixin

if TYPE_CHECKING:
    from airlock.sdk.definitions.abstractoperator import AbstractOperator

RETURN_VALUE_KEY = "return_value"


class XComArg(DependencyMixin, ResolveMixin):
    """The XCom ``key`` of ``operator``, resolved when a downstream task runs."""

    def __init__(self, operator: AbstractOperator, key: str = RETURN_VALUE_KEY) -> None:
        self.operator = operator
        self.key = key

    @property
    def roots(self) -> list[AbstractOperator]:
        return [self.operator]

    @property
    def leaves(self) -> list[AbstractOperator]:
        return [self.operator]

    def __getitem__(self, key: str) -> XComArg:
        return XComArg(self.operator, key)

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(
            f"the output of task '{self.operator.task_id}' is not known while the DAG is "
            "defined, so it cannot be iterated; map over it with .expand(...) instead"
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, XComArg) and other.operator is self.operator and other.key == self.key
        )

    def __hash__(self) -> int:
        return hash((id(self.operator), self.key))

    def __repr__(self) -> str:
        return f"XComArg(task_id={self.operator.task_id!r}, key={self.key!r})"

    def __str__(self) -> str:
        """A Jinja expression that pulls this value, for use inside templated strings."""
        task_id, key = self.operator.task_id, self.key
        return f"{{{{ task_instance.xcom_pull(task_ids='{task_id}', key='{key}') }}}}"

    # --- setup / teardown ------------------------------------------------------------------
    def as_setup(self) -> XComArg:
        self.operator.as_setup()
        return self

    def as_teardown(
        self, *, setups: Any = None, on_failure_fail_dagrun: bool | None = None
    ) -> XComArg:
        self.operator.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def __enter__(self) -> XComArg:
        self.operator.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.operator.__exit__(*exc)

    # --- run time ------------------------------------------------------------------------------
    def resolve(self, context: Mapping[str, Any]) -> Any:
        """Pull the value from XCom through the running task instance."""
        ti = context["ti"]
        return ti.xcom_pull(task_ids=self.operator.task_id, key=self.key)


def iter_xcom_args(value: Any) -> Iterator[XComArg]:
    """Every XComArg inside ``value`` (lists, tuples, sets and dict values are searched)."""
    if isinstance(value, XComArg):
        yield value
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from iter_xcom_args(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_xcom_args(item)
