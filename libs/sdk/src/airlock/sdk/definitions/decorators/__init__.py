"""The ``task`` decorator and its variants (``task.branch``, ``task.sensor`` …)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airlock.sdk.definitions.decorators.bash import bash_task
from airlock.sdk.definitions.decorators.condition import run_if, skip_if
from airlock.sdk.definitions.decorators.python import branch_task, python_task, short_circuit_task
from airlock.sdk.definitions.decorators.sensor import sensor_task
from airlock.sdk.definitions.decorators.setup_teardown import setup, teardown
from airlock.sdk.definitions.decorators.stub import stub_task
from airlock.sdk.definitions.decorators.task_group import task_group
from airlock.sdk.definitions.decorators.virtualenv import external_python_task, virtualenv_task


class TaskDecoratorCollection:
    """``@task`` itself, with the variants as attributes."""

    def __call__(
        self,
        python_callable: Callable[..., Any] | None = None,
        multiple_outputs: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        return python_task(python_callable, multiple_outputs, **kwargs)

    python = staticmethod(python_task)
    branch = staticmethod(branch_task)
    short_circuit = staticmethod(short_circuit_task)
    sensor = staticmethod(sensor_task)
    bash = staticmethod(bash_task)
    stub = staticmethod(stub_task)
    run_if = staticmethod(run_if)
    skip_if = staticmethod(skip_if)
    virtualenv = staticmethod(virtualenv_task)
    external_python = staticmethod(external_python_task)


task = TaskDecoratorCollection()

__all__ = ["setup", "task", "task_group", "teardown"]
