"""``@task.virtualenv`` and ``@task.external_python``: ``@task`` in another interpreter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airlock.sdk.definitions.decorators.base import DecoratedOperator, make_decorator
from airlock.sdk.operators.python_virtualenv import (
    ExternalPythonOperator,
    PythonVirtualenvOperator,
)


class _VirtualenvDecoratedOperator(DecoratedOperator, PythonVirtualenvOperator):
    custom_operator_name = "@task.virtualenv"
    template_fields = ("requirements", "templates_dict", "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Any = None,
        op_kwargs: Any = None,
        **kwargs: Any,
    ) -> None:
        upstream = {"python_callable": python_callable, "op_args": op_args, "op_kwargs": op_kwargs}
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            kwargs_to_upstream=upstream,
            **kwargs,
        )

    def execute(self, context: Any) -> Any:
        return self.handle_output(PythonVirtualenvOperator.execute(self, context), context)


class _ExternalPythonDecoratedOperator(DecoratedOperator, ExternalPythonOperator):
    custom_operator_name = "@task.external_python"
    template_fields = ("templates_dict", "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Any = None,
        op_kwargs: Any = None,
        **kwargs: Any,
    ) -> None:
        upstream = {"python_callable": python_callable, "op_args": op_args, "op_kwargs": op_kwargs}
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            kwargs_to_upstream=upstream,
            **kwargs,
        )

    def execute(self, context: Any) -> Any:
        return self.handle_output(ExternalPythonOperator.execute(self, context), context)


def virtualenv_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> Any:
    return make_decorator(_VirtualenvDecoratedOperator, python_callable, multiple_outputs, kwargs)


def external_python_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> Any:
    return make_decorator(
        _ExternalPythonDecoratedOperator, python_callable, multiple_outputs, kwargs
    )
