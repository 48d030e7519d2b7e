"""``@setup`` and ``@teardown``: tasks that prepare and clean up around the work.

A teardown runs once its setups are done even if the work failed (trigger rule
``all_done_setup_success``), and its own failure does not fail the DAG run unless
``on_failure_fail_dagrun=True``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airlock.sdk.definitions.decorators.base import TaskDecorator
from airlock.sdk.definitions.decorators.python import python_task


def _with_role(func: Any, role: str, on_failure_fail_dagrun: bool = False) -> TaskDecorator:
    decorator = func if isinstance(func, TaskDecorator) else python_task(func)
    return TaskDecorator(
        decorator.function,
        decorator.operator_class,
        multiple_outputs=decorator.multiple_outputs,
        kwargs=decorator.kwargs,
        role=role,
        on_failure_fail_dagrun=on_failure_fail_dagrun,
    )


def setup(func: Callable[..., Any] | TaskDecorator) -> TaskDecorator:
    """Mark a function (or an ``@task`` variant) as a setup task."""
    return _with_role(func, "setup")


def teardown(
    func: Callable[..., Any] | TaskDecorator | None = None, *, on_failure_fail_dagrun: bool = False
) -> Any:
    """Mark a function (or an ``@task`` variant) as a teardown task."""
    if func is None:
        return lambda f: _with_role(f, "teardown", on_failure_fail_dagrun)
    return _with_role(func, "teardown", on_failure_fail_dagrun)
