"""Leases: rows a holder takes for a while, that come back on their own if it goes quiet.

A worker's claim on a queued task instance is one; a callback processor's lease on a callback
request, and a triggerer's on a trigger, are others. Each is described once by a
:class:`LeasedTable` (which columns hold the holder, the epoch and the lease's time), and every
lease is handled by the same operations:

- :func:`acquire`: up to ``limit`` free rows, in the caller's order, for one holder. Two holders
  never hold the same row: on PostgreSQL the rows are chosen once in a materialized CTE locked
  ``FOR UPDATE SKIP LOCKED`` (concurrent acquirers pick different rows instead of queueing), on
  SQLite the one ``UPDATE`` runs under the database's write lock. The update re-checks that each
  row is free, and adds one to its **epoch**.
- :func:`renew`: only the holder, with the epoch it acquired, extends its lease.
- :func:`release`: only the holder, with its epoch, gives rows back; on a connection of its own,
  because the one that was serving the holder may be the one that just failed
  (:func:`give_back` on a connection the caller chose).
- :func:`sort_held`: a heartbeat's look at what a holder thinks it holds: still its own, or lost.
- :func:`expire`: rows whose lease ran out become free (acquire also takes them as it goes), and
  are reset as the caller says (an unconfirmed start goes back to ``queued``).
- :func:`still_held` / :meth:`LeasedTable.held`: the fencing check. A holder that was paused past
  its lease and comes back writes with an old epoch: its writes carry ``held()`` in their
  ``WHERE`` and change nothing.

The lease's time column is either when it was taken (``ttl`` is then applied by the reader: a
task instance's ``claimed_at`` with ``[execution] claim_lease_s``) or when it runs out
(``lease_expires_at``). Statements are built from the pieces (:meth:`LeasedTable.free`,
:meth:`~LeasedTable.take_values`, :meth:`~LeasedTable.pick`), so a hot path can put them in a larger
statement (the one-statement hand-out) instead of spending a round trip per row; their
parameters (``lease_*``) come from :func:`lease_params`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import (
    CTE,
    Column,
    ColumnElement,
    Connection,
    CursorResult,
    Integer,
    Table,
    Update,
    bindparam,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import UnaryExpression

from airlock.db import CallbackRequest, TaskInstance

#: The lease is still held as of ``:lease_cutoff``; set by :func:`lease_params`.
_CUTOFF = "lease_cutoff"


@dataclass(frozen=True)
class LeasedTable:
    """How a table's rows are leased."""

    table: Table
    #: Who holds the row (NULL: no one).
    holder: Column[Any]
    #: How many times the row was acquired: each lease's fencing token.
    epoch: Column[Any]
    #: When the lease was taken, or (``stamp_is_expiry``) when it runs out.
    stamp: Column[Any]
    stamp_is_expiry: bool = False
    #: What else makes a held lease lapse (a task instance queued again since it was claimed).
    lapses_when: Callable[[], Sequence[ColumnElement[bool]]] = field(default=lambda: ())

    @property
    def key(self) -> Column[Any]:
        (key,) = self.table.primary_key.columns
        return key

    def ran_out(self) -> ColumnElement[bool]:
        """The row's lease ran out by ``:lease_cutoff``."""
        return (
            self.stamp <= bindparam(_CUTOFF)
            if self.stamp_is_expiry
            else self.stamp < bindparam(_CUTOFF)
        )

    def lapsed(self) -> ColumnElement[bool]:
        """The row's lease ran out (by ``:lease_cutoff``) or lapsed otherwise."""
        return or_(self.ran_out(), *self.lapses_when())

    def free(self) -> ColumnElement[bool]:
        """No lease holds the row: never taken, given back, or lapsed."""
        return or_(self.stamp.is_(None), self.lapsed())

    def take_values(self) -> dict[str, Any]:
        """What acquiring sets: ``:lease_holder``, the time stamp, the next epoch."""
        return {
            self.holder.key: bindparam("lease_holder"),
            self.stamp.key: bindparam("lease_stamp"),
            self.epoch.key: self.epoch + 1,
        }

    def release_values(self) -> dict[str, Any]:
        return {self.holder.key: None, self.stamp.key: None}

    def held(self) -> ColumnElement[bool]:
        """The fencing check: the row is leased to ``:lease_holder`` under ``:lease_held_epoch``."""
        return (self.holder == bindparam("lease_holder")) & (
            self.epoch == bindparam("lease_held_epoch", type_=Integer)
        )

    def pick(
        self,
        where: Sequence[ColumnElement[bool]],
        order_by: Sequence[ColumnElement[Any] | UnaryExpression[Any]],
        name: str = "picked",
    ) -> CTE:
        """PostgreSQL: up to ``:lease_limit`` free rows matching ``where``, in ``order_by``,
        locked and skipping those another acquirer holds locked; chosen once (materialized: as a
        subquery PostgreSQL may run it again for rows the update reached, and take more)."""
        return (
            select(self.key)
            .where(self.free(), *where)
            .order_by(*order_by)
            .limit(bindparam("lease_limit", type_=Integer))
            .with_for_update(skip_locked=True)
            .cte(name)
            .prefix_with("MATERIALIZED")
        )

    def acquire_statement(
        self,
        dialect: str,
        where: Sequence[ColumnElement[bool]] = (),
        order_by: Sequence[ColumnElement[Any] | UnaryExpression[Any]] = (),
    ) -> Update:
        """``UPDATE … SET <take_values>`` of up to ``:lease_limit`` free rows, returning nothing
        yet (the caller adds what it needs, e.g. the key and the epoch)."""
        take = update(self.table).values(self.take_values())
        if dialect == "postgresql":
            picked = self.pick(where, order_by)
            return take.where(self.key == picked.c[self.key.name], self.free(), *where)
        chosen = (
            select(self.key)
            .where(self.free(), *where)
            .order_by(*order_by)
            .limit(bindparam("lease_limit", type_=Integer))
        )
        return take.where(self.key.in_(chosen.scalar_subquery()), self.free(), *where)


@dataclass(frozen=True, slots=True)
class Held:
    """A row held under ``epoch``."""

    key: Any
    epoch: int


def lease_params(lease: LeasedTable, holder: str, now: dt.datetime, ttl_s: float) -> dict[str, Any]:
    """The ``lease_*`` parameters of the statements built from ``lease``'s pieces."""
    ttl = dt.timedelta(seconds=ttl_s)
    if lease.stamp_is_expiry:
        return {"lease_holder": holder, "lease_stamp": now + ttl, _CUTOFF: now}
    return {"lease_holder": holder, "lease_stamp": now, _CUTOFF: now - ttl}


def acquire(
    connection: Connection,
    lease: LeasedTable,
    holder: str,
    limit: int,
    now: dt.datetime,
    ttl_s: float,
    *,
    where: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[ColumnElement[Any] | UnaryExpression[Any]] = (),
) -> list[Held]:
    """Lease up to ``limit`` free rows matching ``where`` (first in ``order_by``) to ``holder``
    for ``ttl_s`` seconds; what it now holds. One statement."""
    statement = lease.acquire_statement(connection.dialect.name, where, order_by).returning(
        lease.key, lease.epoch
    )
    params = {**lease_params(lease, holder, now, ttl_s), "lease_limit": limit}
    return [Held(key, epoch) for key, epoch in connection.execute(statement, params)]


def renew(
    connection: Connection,
    lease: LeasedTable,
    holder: str,
    held: Held,
    now: dt.datetime,
    ttl_s: float,
) -> bool:
    """Extend ``held`` by ``ttl_s`` from ``now``; False if it is no longer ``holder``'s (it lapsed
    and another took it, or was given back). A lapsed lease no one took is renewed."""
    params = {
        **lease_params(lease, holder, now, ttl_s),
        "lease_key": held.key,
        "lease_held_epoch": held.epoch,
    }
    result = connection.execute(
        update(lease.table)
        .where(lease.key == bindparam("lease_key"), lease.held())
        .values({lease.stamp.key: bindparam("lease_stamp")}),
        params,
    )
    return cast(CursorResult[Any], result).rowcount > 0


def give_back(connection: Connection, lease: LeasedTable, holder: str, held: Sequence[Held]) -> int:
    """Give ``held`` back on ``connection``, in one statement; rows no longer ``holder``'s under
    their epoch are left alone. How many went back."""
    if not held:
        return 0
    result = connection.execute(
        update(lease.table)
        .where(lease.key == bindparam("lease_key"), lease.held())
        .values(lease.release_values()),
        [{"lease_key": h.key, "lease_holder": holder, "lease_held_epoch": h.epoch} for h in held],
    )
    return cast(CursorResult[Any], result).rowcount


def release(
    connect: Callable[[], AbstractContextManager[Connection]],
    lease: LeasedTable,
    holder: str,
    held: Sequence[Held],
) -> int:
    """:func:`give_back`, in a transaction on a connection of its own (``connect()``, e.g.
    ``engine.begin``): the holder's usual connection may be the one that just broke."""
    if not held:
        return 0
    with connect() as connection:
        return give_back(connection, lease, holder, held)


def sort_held(
    connection: Connection,
    lease: LeasedTable,
    holder: str,
    held: Sequence[Held],
    *,
    columns: Sequence[ColumnElement[Any]] = (),
    where: Sequence[ColumnElement[bool]] = (),
) -> tuple[list[Any], list[Any]]:
    """What a holder's heartbeat finds: the rows (key, holder, epoch and ``columns``) of ``held``
    still ``holder``'s under their epoch, and the keys of those *lost* (another holder took the
    row, its row is gone, or it no longer matches ``where``). One query."""
    if not held:
        return [], []
    rows = {
        row[0]: row
        for row in connection.execute(
            select(lease.key, lease.holder, lease.epoch, *columns).where(
                lease.key.in_([h.key for h in held]), *where
            )
        )
    }
    kept: list[Any] = []
    lost: list[Any] = []
    for h in held:
        row = rows.get(h.key)
        if row is None or row[1] != holder or row[2] != h.epoch:
            lost.append(h.key)
        else:
            kept.append(row)
    return kept, lost


def expire(
    connection: Connection,
    lease: LeasedTable,
    now: dt.datetime,
    ttl_s: float,
    *,
    where: Sequence[ColumnElement[bool]] = (),
    reset: Mapping[str, Any] | None = None,
    only_ran_out: bool = False,
) -> int:
    """Free the rows (matching ``where``) whose lease ran out by ``now`` (or, unless
    ``only_ran_out``, lapsed otherwise), setting ``reset`` on them too; how many."""
    result = connection.execute(
        update(lease.table)
        .where(
            lease.stamp.is_not(None),
            lease.ran_out() if only_ran_out else lease.lapsed(),
            *where,
        )
        .values({**(reset or {}), **lease.release_values()}),
        {_CUTOFF: lease_params(lease, "", now, ttl_s)[_CUTOFF]},
    )
    return cast(CursorResult[Any], result).rowcount


def still_held(connection: Connection, lease: LeasedTable, holder: str, held: Held) -> bool:
    """Whether ``holder`` still holds ``held`` under its epoch (expired or not: a lease that ran
    out is still its holder's until someone else takes it or it is expired)."""
    found = connection.scalar(
        select(lease.key).where(lease.key == bindparam("lease_key"), lease.held()),
        {"lease_key": held.key, "lease_holder": holder, "lease_held_epoch": held.epoch},
    )
    return found is not None


_TI = cast(Table, TaskInstance.__table__)
_CALLBACK = cast(Table, CallbackRequest.__table__)

#: A worker's claim on a queued task instance (``[execution] claim_lease_s``). A claim made
#: before the task was last queued (a retry) no longer holds either.
TASK_CLAIM = LeasedTable(
    table=_TI,
    holder=_TI.c.claimed_by,
    epoch=_TI.c.claim_epoch,
    stamp=_TI.c.claimed_at,
    lapses_when=lambda: (_TI.c.claimed_at < _TI.c.queued_at,),
)
#: A callback processor's lease on a callback request.
CALLBACK_LEASE = LeasedTable(
    table=_CALLBACK,
    holder=_CALLBACK.c.leased_by,
    epoch=_CALLBACK.c.lease_epoch,
    stamp=_CALLBACK.c.lease_expires_at,
    stamp_is_expiry=True,
)

__all__ = [
    "CALLBACK_LEASE",
    "TASK_CLAIM",
    "Held",
    "LeasedTable",
    "acquire",
    "expire",
    "give_back",
    "lease_params",
    "release",
    "renew",
    "sort_held",
    "still_held",
]
