"""Custom priority-weight strategies (``weight_rule=MyStrategy()``), evaluated where user code
may run: in the DAG processor, while the file is parsed.

The scheduler runs no user code (DESIGN §1), so it cannot call ``get_weight`` when it queues a
task instance, as Airflow does. Instead the DAG processor asks the strategy once per try the task
can have (``retries + 1``, at most :data:`MAX_TRIES_EVALUATED`) and ships the answers with the
serialized task; the scheduler uses the first for a new task instance and the next one each time
it is up for retry. ``get_weight`` therefore sees a :class:`ParseTimeTaskInstance`: the task, its
ids, ``try_number`` and ``max_tries`` — no run, no map index (mapped instances share the
weights), no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airlock.sdk.exceptions import DagDefinitionError

if TYPE_CHECKING:
    from airlock.sdk.definitions.abstractoperator import AbstractOperator

#: Tries a strategy is asked about; later tries keep the last weight.
MAX_TRIES_EVALUATED = 100


class PriorityWeightStrategy:
    """Subclass and implement :meth:`get_weight`; pass an instance as ``weight_rule=``."""

    def get_weight(self, ti: Any) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement get_weight(ti)")


@dataclass(frozen=True)
class ParseTimeTaskInstance:
    """What ``get_weight`` receives: the task instance as far as it is known at parse time."""

    task: AbstractOperator
    dag_id: str
    task_id: str
    try_number: int
    max_tries: int
    priority_weight: int
    map_index: int = -1
    run_id: str | None = None


def weights_by_try(task: AbstractOperator, strategy: PriorityWeightStrategy) -> list[int]:
    """``strategy``'s weight for each try of ``task`` (index 0 is the first try)."""
    tries = min(task.retries + 1, MAX_TRIES_EVALUATED)
    weights = []
    for try_number in range(1, tries + 1):
        ti = ParseTimeTaskInstance(
            task=task,
            dag_id=task.dag_id,
            task_id=task.task_id,
            try_number=try_number,
            max_tries=task.retries,
            priority_weight=task.priority_weight,
        )
        try:
            weight = strategy.get_weight(ti)
        except Exception as exc:
            raise DagDefinitionError(
                f"the priority weight strategy {type(strategy).__name__} failed for try "
                f"{try_number}: {exc!r}; get_weight(ti) runs while the file is parsed and gets "
                "the task, its ids, try_number and max_tries only",
                dag_id=task.dag_id,
                task_id=task.task_id,
            ) from exc
        if not isinstance(weight, int) or isinstance(weight, bool):
            raise DagDefinitionError(
                f"the priority weight strategy {type(strategy).__name__} returned {weight!r} "
                f"for try {try_number}; get_weight must return an int",
                dag_id=task.dag_id,
                task_id=task.task_id,
            )
        weights.append(weight)
    return weights
