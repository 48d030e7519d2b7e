"""``@task.sensor``: the function is the sensor's ``poke``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airlock.sdk.bases.sensor import BaseSensorOperator, PokeReturnValue
from airlock.sdk.definitions.decorators.base import check_call_arguments, make_decorator
from airlock.sdk.operators.python import determine_kwargs


class _DecoratedSensorOperator(BaseSensorOperator):
    custom_operator_name = "@task.sensor"
    template_fields: Sequence[str] = ("op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        check_call_arguments(
            python_callable,
            self.op_args,
            self.op_kwargs,
            dag_id=self.dag.dag_id if self.dag else None,
            task_id=self.task_id,
        )

    def poke(self, context: Any) -> bool | PokeReturnValue:
        available = {**context, **self.op_kwargs}
        kwargs = determine_kwargs(self.python_callable, self.op_args, available)
        return self.python_callable(*self.op_args, **kwargs)


def sensor_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    return make_decorator(_DecoratedSensorOperator, python_callable, False, kwargs)
