"""StubOperator: a task whose code is written in another language and run by another runner.

The DAG stays in Python; the stub only declares the task (its id, dependencies, retries, pool …)
and routes it with ``queue=`` to a runner that serves that queue — the Node.js runner of
``libs/runner-node``, or any program that speaks the Execution API. That runner finds the code
by the task id, pulls the upstream XComs it needs and pushes its return value, exactly as a
Python task does. This is the "tasks as RPC" model: the orchestrator hands out the work, the
runner (possibly inside an existing application) does it.

A stub must not be run by a Python worker, so :meth:`StubOperator.execute` fails with a message
saying which queue should have taken it.
"""

from __future__ import annotations

from typing import Any

from airlock.sdk.definitions.abstractoperator import DEFAULT_QUEUE
from airlock.sdk.definitions.baseoperator import BaseOperator
from airlock.sdk.exceptions import AirlockException, DagDefinitionError


class StubOperator(BaseOperator):
    """Declare a task that a runner for ``queue`` (not a Python worker) executes."""

    ui_color = "#e4ecf7"

    def __init__(self, *, queue: str = DEFAULT_QUEUE, **kwargs: Any) -> None:
        super().__init__(queue=queue, **kwargs)
        check_stub_queue(self)

    def execute(self, context: Any) -> Any:
        raise AirlockException(
            f"task '{self.task_id}' is a stub for code in another language: the runner that "
            f"serves queue '{self.queue}' runs it, not a Python worker; start that runner, and "
            f"do not let Python workers serve queue '{self.queue}'"
        )


def check_stub_queue(task: BaseOperator) -> None:
    """A stub on the default queue would be taken by a Python worker: refuse it when parsing."""
    if task.queue == DEFAULT_QUEUE:
        raise DagDefinitionError(
            f"a stub task needs queue= naming the queue its runner serves (for example "
            f"queue='node'), got the default queue '{DEFAULT_QUEUE}', which Python workers serve",
            dag_id=task.dag.dag_id if task.dag else None,
            task_id=task.task_id,
        )
