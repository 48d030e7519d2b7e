"""Wake waiting workload polls the moment this process queues a task.

Task hand-off (end of one task → start of the next) is a hot path (DESIGN §7). When a runner
reports success, ``airlock.scheduling.finish_task`` queues the next tasks of the run inside this
very process (as does the Web API's trigger when it is served by the same process); a worker's
long-poll waiting here should take them at once rather than on its next DB re-check. Work queued
by *other* processes (the scheduler, another API replica) is still found by that periodic
re-check (``[execution] poll_interval_ms``).

``airlock.scheduling`` calls its queue listeners after each commit that queued task instances
(never before: a poll woken early would find nothing); :meth:`WorkNotifier.listen_to_scheduling` makes
the process's notifier one of them.

The notifier is a generation counter plus the waiters' events. :meth:`notify` may be called from
any thread (sync handlers run in a thread pool); waiters are coroutines on the server's event
loop. A poll reads :attr:`generation` *before* it looks at the DB and passes it to :meth:`wait`,
so a notification that lands between its empty claim and its wait is not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from airlock.scheduling import add_queue_listener


class WorkNotifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._listening = False

    @property
    def generation(self) -> int:
        with self._lock:
            return self._generation

    def notify(self) -> None:
        """Say that work was queued and committed; safe from any thread."""
        with self._lock:
            self._generation += 1
            waiters = list(self._waiters)
        for loop, event in waiters:
            # A closed loop raises RuntimeError; its waiter is gone with it.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    def listen_to_scheduling(self) -> None:
        """Be notified whenever this process commits queued task instances (idempotent)."""
        with self._lock:
            if self._listening:
                return
            self._listening = True
        add_queue_listener(lambda _ti_ids: self.notify())

    async def wait(self, since: int, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for a notification after generation ``since``.

        Returns True when work was queued since then, False on timeout.
        """
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._lock:
            if self._generation != since:
                return True
            self._waiters.add(waiter)
        try:
            await asyncio.wait_for(event.wait(), timeout=max(timeout_s, 0.0))
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters.discard(waiter)
        return True


#: The process's notifier: every Execution API app built in this process shares it, so work
#: queued through one of them wakes polls waiting on any of them.
work_queued = WorkNotifier()
