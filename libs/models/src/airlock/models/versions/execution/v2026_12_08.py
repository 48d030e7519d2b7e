"""Execution API 2026-12-08: a worker confirms the tasks a poll started for it in one call.

- ``POST /execution/workloads/confirm`` is new (worker token): :class:`StartConfirmation` names
  the tasks (each with the task token its workload carried), :class:`StartConfirmationReply` says
  for each whether its start holds. Before this version each task's first heartbeat confirmed
  it (ADR 0020), one request per task; that still works.
"""

from airlock.models.versioning import EndpointAdded, Version

VERSION = Version(
    "2026-12-08",
    "POST /workloads/confirm: the starts of one poll confirmed in one call.",
    changes=(EndpointAdded("POST", "/workloads/confirm"),),
)
