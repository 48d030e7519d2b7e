"""``@task.run_if(condition)`` and ``@task.skip_if(condition)``: skip a task at run time.

Placed above ``@task`` (or a variant), they give the task a ``pre_execute`` hook that calls
``condition(context)`` just before the task runs and skips the task (its downstream then
follows their trigger rules) when the task should not run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airlock.sdk.definitions.decorators.base import TaskDecorator
from airlock.sdk.exceptions import AirlockSkipException, DagDefinitionError

Condition = Callable[[Any], bool]


def _conditional(
    name: str, should_run: Condition, skip_message: str | None
) -> Callable[[TaskDecorator], TaskDecorator]:
    def wrap(decorated: TaskDecorator) -> TaskDecorator:
        if not isinstance(decorated, TaskDecorator):
            raise DagDefinitionError(
                f"@task.{name} must be placed above @task (or a @task variant), got {decorated!r}"
            )
        previous = decorated.kwargs.get("pre_execute")

        def check(context: Any) -> None:
            if previous is not None:
                previous(context)
            if not should_run(context):
                task_id = context["task"].task_id if "task" in context else "the task"
                raise AirlockSkipException(
                    skip_message or f"task {task_id!r} skipped: its {name} condition says so"
                )

        return decorated.override(pre_execute=check)

    return wrap


def run_if(
    condition: Condition, skip_message: str | None = None
) -> Callable[[TaskDecorator], TaskDecorator]:
    """Run the task only when ``condition(context)`` is true; skip it otherwise."""
    return _conditional("run_if", lambda context: bool(condition(context)), skip_message)


def skip_if(
    condition: Condition, skip_message: str | None = None
) -> Callable[[TaskDecorator], TaskDecorator]:
    """Skip the task when ``condition(context)`` is true."""
    return _conditional("skip_if", lambda context: not condition(context), skip_message)
