"""Web API payloads of XComs: what a task published for later tasks of its run, parsed."""

from __future__ import annotations

from typing import Any

import msgspec

from airlock.models.types import AwareDatetime


class XComEntry(msgspec.Struct, kw_only=True, frozen=True):
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str
    timestamp: AwareDatetime
    value: Any = None


class XComCollection(msgspec.Struct, kw_only=True, frozen=True):
    xcom_entries: list[XComEntry]
    total_entries: int
