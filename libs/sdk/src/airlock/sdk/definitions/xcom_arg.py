"""XComArg: a reference to a value an upstream task will return at run time.

Calling a ``@task`` function returns one, and so does ``operator.output``. Passing it to another
task both makes the dependency (``extract`` becomes upstream of ``load``) and, at run time, pulls
the value from XCom. ``xcom_arg["key"]`` refers to one key of a ``multiple_outputs`` task.

``.map(f)``, ``.zip(other, …)`` and ``.concat(other, …)`` transform the value lazily, when the
downstream task runs (Airflow 3's names). A mapped task may expand over any of them: one
instance per item of the transformed value, which the scheduler counts from the upstream
outputs (``.map`` keeps the length, ``.zip`` takes the shortest, or the longest with a
``fillvalue``, ``.concat`` the sum).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from itertools import zip_longest
from typing import TYPE_CHECKING, Any

from airlock.sdk.definitions.mixins import DependencyMixin, ResolveMixin

if TYPE_CHECKING:
    from airlock.sdk.definitions.abstractoperator import AbstractOperator

RETURN_VALUE_KEY = "return_value"
_NO_FILL: Any = object()


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

    # --- lazy transforms -----------------------------------------------------------------------
    def map(self, function: Callable[[Any], Any]) -> MapXComArg:
        """Each item of the value (a ``(key, value)`` pair for a dict) passed through
        ``function`` when a downstream task runs."""
        return MapXComArg(self, [function])

    def zip(self, *others: XComArg, fillvalue: Any = _NO_FILL) -> ZipXComArg:
        """Tuples of this value's items and ``others``', up to the shortest (or the longest,
        padded with ``fillvalue``)."""
        return ZipXComArg([self, *others], fillvalue)

    def concat(self, *others: XComArg) -> ConcatXComArg:
        """This value's items followed by ``others``'."""
        return ConcatXComArg([self, *others])

    # --- run time ------------------------------------------------------------------------------
    def resolve(self, context: Mapping[str, Any]) -> Any:
        """Pull the value from XCom through the running task instance."""
        ti = context["ti"]
        return ti.xcom_pull(task_ids=self.operator.task_id, key=self.key)


def _items(value: Any, source: XComArg) -> list[Any]:
    if isinstance(value, dict):
        return list(value.items())
    if value is None or isinstance(value, str | bytes):
        raise TypeError(
            f"the output of task '{source.operator.task_id}' must be a list or dict to be "
            f"mapped, zipped or concatenated, got {type(value).__name__} {value!r}"
        )
    return list(value)


class MapXComArg(XComArg):
    """``arg.map(f)``: the source's items through ``f`` (same length as the source)."""

    def __init__(self, arg: XComArg, functions: list[Callable[[Any], Any]]) -> None:
        super().__init__(arg.operator, arg.key)
        self.arg = arg
        self.functions = functions

    @property
    def roots(self) -> list[AbstractOperator]:
        return self.arg.roots

    @property
    def leaves(self) -> list[AbstractOperator]:
        return self.arg.leaves

    def map(self, function: Callable[[Any], Any]) -> MapXComArg:
        return MapXComArg(self.arg, [*self.functions, function])

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"{self.arg!r}.map({', '.join(f.__name__ for f in self.functions)})"

    def resolve(self, context: Mapping[str, Any]) -> Any:
        items = _items(self.arg.resolve(context), self.arg)
        for function in self.functions:
            items = [function(item) for item in items]
        return items


class _CombinedXComArg(XComArg):
    """Several upstream outputs combined; every source task is upstream of the consumer."""

    def __init__(self, args: list[XComArg]) -> None:
        super().__init__(args[0].operator, args[0].key)
        self.args = args

    @property
    def roots(self) -> list[AbstractOperator]:
        return [a.operator for a in self.args]

    @property
    def leaves(self) -> list[AbstractOperator]:
        return [a.operator for a in self.args]

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return id(self)


class ZipXComArg(_CombinedXComArg):
    def __init__(self, args: list[XComArg], fillvalue: Any = _NO_FILL) -> None:
        super().__init__(args)
        self.fillvalue = fillvalue

    @property
    def combination(self) -> str:
        """How the length is counted: ``zip`` (the shortest) or, given a ``fillvalue``,
        ``zip_longest``."""
        return "zip" if self.fillvalue is _NO_FILL else "zip_longest"

    def __repr__(self) -> str:
        return f"{self.args[0]!r}.zip({', '.join(map(repr, self.args[1:]))})"

    def resolve(self, context: Mapping[str, Any]) -> Any:
        lists = [_items(a.resolve(context), a) for a in self.args]
        if self.fillvalue is _NO_FILL:
            return [tuple(t) for t in zip(*lists, strict=False)]
        return [tuple(t) for t in zip_longest(*lists, fillvalue=self.fillvalue)]


class ConcatXComArg(_CombinedXComArg):
    #: How the length is counted: the sum of the values' lengths.
    combination = "concat"

    def __repr__(self) -> str:
        return f"{self.args[0]!r}.concat({', '.join(map(repr, self.args[1:]))})"

    def resolve(self, context: Mapping[str, Any]) -> Any:
        return [item for a in self.args for item in _items(a.resolve(context), a)]


def iter_xcom_args(value: Any) -> Iterator[XComArg]:
    """Every XComArg inside ``value`` (lists, tuples, sets and dict values are searched)."""
    if isinstance(value, MapXComArg):
        yield from iter_xcom_args(value.arg)
    elif isinstance(value, _CombinedXComArg):
        for arg in value.args:
            yield from iter_xcom_args(arg)
    elif isinstance(value, XComArg):
        yield value
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from iter_xcom_args(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_xcom_args(item)
