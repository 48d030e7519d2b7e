"""Tell the process that tasks were queued — once the transaction that queued them committed.

Whoever queues task instances (``schedule_run``, called by the scheduler, by the Web API's
trigger, and by ``finish_task`` in the Execution API) records their ids on the session. When that
session commits, every listener registered with :func:`add_queue_listener` is called with the ids
(a tuple of task instance ids); on rollback they are dropped. So an Execution API process can wake
its long-polling workers the moment the next task of a run is *visible* to them, never before.

Listeners run synchronously in the committing thread: they must be quick and must not use the
session (e.g. set an event, bump a counter). An exception in a listener is logged, never raised.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

QueueListener = Callable[[tuple[str, ...]], None]

_listeners: list[QueueListener] = []
_lock = threading.Lock()
_PENDING = "airlock.scheduling.queued_ti_ids"
_HOOKED = "airlock.scheduling.hooked"


def add_queue_listener(listener: QueueListener) -> None:
    """Call ``listener(ti_ids)`` after each commit that queued task instances."""
    with _lock:
        _listeners.append(listener)


def remove_queue_listener(listener: QueueListener) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def record_queued(session: Session, ti_ids: Iterable[str]) -> None:
    """Remember ``ti_ids`` as queued in ``session``'s transaction."""
    ids = list(ti_ids)
    if not ids:
        return
    session.info.setdefault(_PENDING, []).extend(ids)
    if not session.info.get(_HOOKED):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_soft_rollback", _after_rollback)
        session.info[_HOOKED] = True


def _after_commit(session: Session) -> None:
    ids = tuple(session.info.pop(_PENDING, ()))
    if not ids:
        return
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(ids)
        except Exception:
            log.exception("queue listener %r failed", listener)


def _after_rollback(session: Session, previous_transaction: object) -> None:
    if not session.in_transaction():
        session.info.pop(_PENDING, None)
