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
_hooked = threading.Event()


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
    _hook()


def _hook() -> None:
    """Listen to every session's commits and rollbacks, once per process (hooking each session
    that queued something would cost more than the check each commit makes)."""
    if _hooked.is_set():
        return
    with _lock:
        if not _hooked.is_set():
            event.listen(Session, "after_commit", _after_commit)
            event.listen(Session, "after_soft_rollback", _after_rollback)
            _hooked.set()


def _after_commit(session: Session) -> None:
    if _PENDING not in session.info:
        return
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
    if _PENDING in session.info and not session.in_transaction():
        session.info.pop(_PENDING, None)
