"""What the scheduling decisions refuse, as exceptions the APIs map to HTTP problems.

``DagNotFound`` and ``TaskInstanceNotFound`` are 404s; ``DagRunExists``, ``DagStale`` and
``StateConflict`` are 409s. Each message names the thing, the value received and what to do.
"""

from __future__ import annotations


class SchedulingError(Exception):
    """Base of every refusal raised by ``airlock.scheduling``."""


class DagNotFound(SchedulingError, LookupError):
    """No such DAG, or it has no parsed version yet."""


class DagStale(SchedulingError):
    """The DAG vanished from its bundle: it keeps its history but gets no new runs."""


class DagRunExists(SchedulingError):
    """A run with that run id (or that logical date) already exists for the DAG."""


class DagVersionNotFound(SchedulingError, LookupError):
    """A run or task instance names a DAG version that is not in the database."""


class BadDagVersion(SchedulingError):
    """A stored DAG version that does not decode to a runnable DAG: that DAG's error, never a
    reason for a service that reads it to stop."""


class TaskNotInDag(SchedulingError, LookupError):
    """A task id that the DAG version does not define."""


class TaskInstanceNotFound(SchedulingError, LookupError):
    """No task instance has that id."""


class StateConflict(SchedulingError):
    """The task instance is not in a state the requested change can start from.

    ``current`` is the state it is in, so an API can say what happened instead.
    """

    def __init__(self, message: str, current: str | None) -> None:
        super().__init__(message)
        self.current = current
