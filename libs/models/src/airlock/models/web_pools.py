"""Web API payloads of pools: caps on how many task slots run at once across DAGs.

``slots`` is 0 or more, or -1 for a pool without a cap.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

NAME_MAX = 250

PoolName = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX)]
PoolSlots = Annotated[int, msgspec.Meta(ge=-1)]


class PoolView(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    slots: int
    description: str | None = None
    include_deferred: bool = False
    occupied_slots: int = 0
    running_slots: int = 0
    queued_slots: int = 0
    scheduled_slots: int = 0
    deferred_slots: int = 0
    #: Slots free now (negative when the pool was shrunk below its use).
    open_slots: int = 0


class PoolCollection(msgspec.Struct, kw_only=True, frozen=True):
    pools: list[PoolView]
    total_entries: int


class PoolCreate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: PoolName
    slots: PoolSlots
    description: str | None = None
    include_deferred: bool = False


class PoolPatch(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    slots: PoolSlots | None = None
    description: str | None = None
    include_deferred: bool | None = None
