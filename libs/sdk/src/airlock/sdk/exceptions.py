"""Exceptions of the Task SDK.

Two families:

- :class:`AirlockSdkError` and its subclasses are mistakes in how the SDK is used: a DAG that
  cannot be built (:class:`DagDefinitionError`), a param value that fails its schema, a runtime
  service asked for outside a running task. Their messages name the DAG, the task, the value
  received and what to do.
- :class:`AirlockException` and its subclasses are raised *by or for task code* while it runs and
  tell the runtime how the try ended (skipped, failed without retry, sensor timed out,
  reschedule requested). Airflow's names are kept as aliases so ported code keeps its ``except``
  clauses after changing only imports.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


class AirlockSdkError(Exception):
    """The SDK was used in a way it cannot honour."""


class DagDefinitionError(AirlockSdkError):
    """A DAG file describes a DAG that cannot exist (raised while the file is parsed)."""

    def __init__(self, problem: str, *, dag_id: str | None = None, task_id: str | None = None):
        self.problem = problem
        self.dag_id = dag_id
        self.task_id = task_id
        where = []
        if dag_id is not None:
            where.append(f"DAG '{dag_id}'")
        if task_id is not None:
            where.append(f"task '{task_id}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {problem}" if prefix else problem)


class ParamValidationError(AirlockSdkError, ValueError):
    """A param's value does not match its schema, or a required param has no value."""


class CommsUnavailableError(AirlockSdkError, RuntimeError):
    """Task-time services (variables, connections, XCom …) were used outside a task or parse."""


class AirlockException(Exception):
    """Task code failed; the try fails and is retried if retries remain."""


class AirlockSkipException(AirlockException):
    """End the try as *skipped*."""


class AirlockFailException(AirlockException):
    """End the try as *failed*, without using the remaining retries."""


class AirlockSensorTimeout(AirlockFailException):
    """A sensor's condition did not become true within its ``timeout``."""


class AirlockNotFoundException(AirlockException):
    """A variable, connection or DAG run that task code asked for does not exist."""


class DagRunAlreadyExists(AirlockException):
    """``TriggerDagRunOperator`` asked for a run id that already exists."""


class RescheduleRequested(AirlockException):
    """A sensor in ``reschedule`` mode asks to be run again at ``reschedule_date``.

    The runtime catches it, frees the worker slot and puts the task instance in
    ``up_for_reschedule``; it is not a failure.
    """

    def __init__(self, reschedule_date: datetime) -> None:
        self.reschedule_date = reschedule_date
        super().__init__(f"reschedule requested for {reschedule_date.isoformat()}")


class TaskDeferred(BaseException):
    """A task hands its wait to the triggerer: raised by ``BaseOperator.defer``.

    The runtime catches it, frees the worker slot and puts the task instance in ``deferred``
    with ``trigger``; when the trigger fires, the task resumes on a worker by calling
    ``method_name(context, event)`` (``event``: the trigger event's payload, plus ``kwargs``).
    ``timeout`` (seconds or a timedelta) fails the task if the trigger has not fired by then.
    A ``BaseException``, like Airflow's, so that ``except Exception`` in task code does not
    swallow it.
    """

    def __init__(
        self,
        *,
        trigger: Any,
        method_name: str,
        kwargs: dict[str, Any] | None = None,
        timeout: timedelta | float | None = None,
    ) -> None:
        self.trigger = trigger
        self.method_name = method_name
        self.kwargs = kwargs or {}
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        super().__init__(f"deferred to {type(trigger).__name__}, resuming with {method_name}")


class TaskDeferralError(AirlockException):
    """A deferred task's trigger failed, raised, could not be loaded or timed out."""


# Airflow's names, so ported code keeps working after changing only its imports.
AirflowException = AirlockException
AirflowSkipException = AirlockSkipException
AirflowFailException = AirlockFailException
AirflowSensorTimeout = AirlockSensorTimeout
AirflowNotFoundException = AirlockNotFoundException
AirflowRescheduleException = RescheduleRequested
DagRunAlreadyExistsError = DagRunAlreadyExists

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirlockException",
    "AirlockFailException",
    "AirlockNotFoundException",
    "AirlockSdkError",
    "AirlockSensorTimeout",
    "AirlockSkipException",
    "CommsUnavailableError",
    "DagDefinitionError",
    "DagRunAlreadyExists",
    "DagRunAlreadyExistsError",
    "ParamValidationError",
    "RescheduleRequested",
    "TaskDeferralError",
    "TaskDeferred",
]
