"""Payloads of the Web API's view of triggers: what deferred tasks wait for, and who runs it.

``GET /api/v1/triggers`` lists :class:`TriggerView`\\ s (a page, :class:`TriggerList`); a deferred
task instance's detail carries its trigger. Kwargs whose names look secret (password, token,
secret, key, credential) are shown as ``"***"``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from airlock.models.types import AwareDatetime


class TriggerView(msgspec.Struct, kw_only=True, frozen=True):
    id: int
    classpath: str
    kwargs: dict[str, Any] = msgspec.field(default_factory=dict)
    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    #: Since when the task waits.
    created_at: AwareDatetime
    #: The triggerer holding the lease (``<token subject>/<name>``), and until when.
    triggerer: str | None = None
    lease_expires_at: AwareDatetime | None = None
    timeout_at: AwareDatetime | None = None
    fired_at: AwareDatetime | None = None


class TriggerList(msgspec.Struct, kw_only=True, frozen=True):
    triggers: list[TriggerView]
    total_entries: int = 0
