"""Execution API 2026-12-08: a workload names its try's place in the run's trace.

- ``Workload.traceparent`` is new: the W3C ``traceparent`` of the try's span in its DAG run's
  trace, set when the server exports traces (ADR 0024). The worker's span for the try, the task
  process's span and the task's own spans nest under it. Workers of older versions do not
  receive it.
"""

from airlock.models.execution import Workload
from airlock.models.versioning import FieldAdded, Version

VERSION = Version(
    "2026-12-08",
    "Workload gains traceparent: the try's span in its DAG run's trace.",
    changes=(FieldAdded(Workload, "traceparent"),),
)
