"""``@task``, ``@task.branch`` and ``@task.short_circuit``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airlock.sdk.bases.branch import BranchDecision, branch_decision, short_circuit_decision
from airlock.sdk.definitions.decorators.base import DecoratedOperator, make_decorator
from airlock.sdk.operators.python import PythonOperator


class _PythonDecoratedOperator(DecoratedOperator, PythonOperator):
    custom_operator_name = "@task"
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
        return self.handle_output(PythonOperator.execute(self, context), context)


class _BranchPythonDecoratedOperator(_PythonDecoratedOperator):
    custom_operator_name = "@task.branch"
    is_branch = True

    def execute(self, context: Any) -> BranchDecision:
        return branch_decision(self, super().execute(context))


class _ShortCircuitDecoratedOperator(_PythonDecoratedOperator):
    custom_operator_name = "@task.short_circuit"
    is_short_circuit = True

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    def execute(self, context: Any) -> BranchDecision:
        condition = super().execute(context)
        return short_circuit_decision(self, condition, self.ignore_downstream_trigger_rules)


def python_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> Any:
    return make_decorator(_PythonDecoratedOperator, python_callable, multiple_outputs, kwargs)


def branch_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> Any:
    return make_decorator(_BranchPythonDecoratedOperator, python_callable, multiple_outputs, kwargs)


def short_circuit_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> Any:
    return make_decorator(_ShortCircuitDecoratedOperator, python_callable, multiple_outputs, kwargs)
