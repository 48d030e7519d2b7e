"""Which try of which task instance a message is about.

A try is named in several places: the workload hands it to the worker (``TaskInstanceRef``), the
task token carries it (claim ``try_number``), the ``task_instance`` row counts it, and every end,
heartbeat and give-back must still match it. :class:`TaskTry` is that identity in one value, so
the control plane compares it in one place (``airlock.scheduling.tries``). It is not sent on the
wire as such: each API payload keeps its own field names.
"""

from __future__ import annotations

import msgspec


class TaskTry(msgspec.Struct, frozen=True):
    """Try ``try_number`` of task instance ``ti_id`` (a task instance's id is stable across its
    tries: task tokens name it as their subject).

    ``try_number`` is None when the sender did not say which try it means (a task token issued
    before tokens named their try): such a message concerns whatever try runs now.
    """

    ti_id: str
    try_number: int | None = None
