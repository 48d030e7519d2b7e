"""What the trigger and watcher endpoints share: whose name a triggerer's leases are held under,
and the lease and give-back calls, which differ only in the rows they lease (ADR 0013, 0022).

A lease is held as ``<token subject>/<triggerer name>``: one token's triggerers can never write
under another token's leases, whatever name they send.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from litestar import Request
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from airlock.core.http import claims_of
from airlock.models.internal_triggers import HeldTrigger
from airlock.models.internal_watchers import HeldWatcher
from airlock.scheduling.leases import Held
from airlock.scheduling.tables import connection

Row = TypeVar("Row")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def holder_name(request: Request[Any, Any, Any], triggerer: str) -> str:
    """The name ``triggerer``'s leases are held under."""
    return f"{claims_of(request).sub}/{triggerer}"


def lease_rows(
    request: Request[Any, Any, Any],
    session: Session,
    lease: Callable[..., Sequence[Row]],
    triggerer: str,
    limit: int,
    lease_s: float,
) -> Sequence[Row]:
    """Lease up to ``limit`` rows of the token's bundles to ``triggerer`` with ``lease``
    (``lease_triggers`` or ``lease_watchers`` of :mod:`airlock.scheduling`), committed."""
    rows = lease(
        connection(session),
        holder_name(request, triggerer),
        limit,
        utc_now(),
        lease_s,
        bundles=claims_of(request).bundles,
    )
    session.commit()
    return rows


def give_back_rows(
    request: Request[Any, Any, Any],
    session: Session,
    release: Callable[[Connection, str, Sequence[Held]], int],
    triggerer: str,
    held: Iterable[HeldTrigger | HeldWatcher],
) -> int:
    """Give ``triggerer``'s ``held`` leases back, committed; how many went back."""
    released = release(
        connection(session), holder_name(request, triggerer), [Held(h.id, h.epoch) for h in held]
    )
    session.commit()
    return released
