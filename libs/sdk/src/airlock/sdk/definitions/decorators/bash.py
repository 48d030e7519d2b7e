"""``@task.bash``: the function returns the command to run (rendered as a template)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airlock.sdk.definitions.decorators.base import DecoratedOperator, make_decorator
from airlock.sdk.exceptions import AirlockException
from airlock.sdk.operators.bash import BashOperator
from airlock.sdk.operators.python import determine_kwargs


class _BashDecoratedOperator(DecoratedOperator, BashOperator):
    custom_operator_name = "@task.bash"
    template_fields = ("op_args", "op_kwargs", "env", "cwd")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(kwargs_to_upstream={"bash_command": ""}, **kwargs)

    def execute(self, context: Any) -> Any:
        available = {**context, **self.op_kwargs}
        kwargs = determine_kwargs(self.python_callable, self.op_args, available)
        command = self.python_callable(*self.op_args, **kwargs)
        if not isinstance(command, str) or not command.strip():
            raise AirlockException(
                f"@task.bash function {self.python_callable.__name__}() must return a "
                f"non-empty command string, got {command!r}"
            )
        self.bash_command = self.render_template(command, context)
        return BashOperator.execute(self, context)


def bash_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    return make_decorator(_BashDecoratedOperator, python_callable, False, kwargs)
