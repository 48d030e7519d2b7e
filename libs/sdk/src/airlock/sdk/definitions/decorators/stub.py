"""``@task.stub``: a task written in another language, declared by an empty Python function.

::

    @task.stub(queue="node")
    def shout(): ...

The function names the task and its arguments declare upstream dependencies (``shout(extract())``
makes ``extract`` upstream); its body must be empty (``...``, ``pass`` or a docstring) because it
never runs: the runner serving ``queue`` runs the task's real code, found by the task id.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

from airlock.sdk.definitions.decorators.base import DecoratedOperator, make_decorator
from airlock.sdk.exceptions import DagDefinitionError
from airlock.sdk.operators.stub import StubOperator


class _StubDecoratedOperator(DecoratedOperator, StubOperator):
    custom_operator_name = "@task.stub"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not _has_empty_body(self.python_callable):
            raise DagDefinitionError(
                f"@task.stub function {self.python_callable.__name__}() must have an empty "
                "body (`...`, `pass` or a docstring): it never runs in Python; put the task's "
                f"code in the runner that serves queue '{self.queue}'",
                dag_id=self.dag.dag_id if self.dag else None,
                task_id=self.task_id,
            )

    def execute(self, context: Any) -> Any:
        return StubOperator.execute(self, context)


def _has_empty_body(function: Callable[..., Any]) -> bool:
    """Whether the function's body is only ``...``, ``pass`` and string literals (unknown
    source, as for a function made with ``exec``, counts as empty)."""
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return True
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return True
    return all(
        isinstance(statement, ast.Pass)
        or (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant))
        for statement in node.body
    )


def stub_task(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    return make_decorator(_StubDecoratedOperator, python_callable, False, kwargs)
