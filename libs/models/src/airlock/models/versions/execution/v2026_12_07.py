"""Execution API 2026-12-07: a task resuming after a deferral learns how to resume.

- ``TaskRunContext.next_method`` and ``next_kwargs`` are new: set when the task was deferred and
  its trigger fired (or failed), they name the method the runner calls instead of ``execute``
  and its keyword arguments, the trigger's event among them. Workers of older versions do not
  receive them (they never saw a deferred task resume). ``TaskRunContext.log_seq_start`` says
  where a resumed try's log batches continue their numbering.
"""

from airlock.models.execution import TaskRunContext
from airlock.models.versioning import FieldAdded, Version

VERSION = Version(
    "2026-12-07",
    "TaskRunContext gains next_method, next_kwargs and log_seq_start: how a deferred task resumes.",
    changes=(
        FieldAdded(TaskRunContext, "next_method"),
        FieldAdded(TaskRunContext, "next_kwargs"),
        FieldAdded(TaskRunContext, "log_seq_start"),
    ),
)
