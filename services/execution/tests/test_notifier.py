"""The work-queued notifier: wakes waiters on any event loop from any thread, loses no
notification that lands between a poll's DB check and its wait."""

from __future__ import annotations

import asyncio
import threading
import time

from airlock.execution.notifier import WorkNotifier


def test_a_notification_from_another_thread_wakes_a_waiter_at_once() -> None:
    notifier = WorkNotifier()

    async def wait() -> tuple[bool, float]:
        seen = notifier.generation
        threading.Timer(0.1, notifier.notify).start()
        started = time.monotonic()
        woke = await notifier.wait(seen, timeout_s=5)
        return woke, time.monotonic() - started

    woke, waited = asyncio.run(wait())
    assert woke
    assert 0.05 < waited < 1


def test_a_notification_before_the_wait_is_not_lost() -> None:
    notifier = WorkNotifier()
    seen = notifier.generation
    notifier.notify()  # lands after the poll's empty claim, before it waits

    started = time.monotonic()
    assert asyncio.run(notifier.wait(seen, timeout_s=5))
    # Far below the 5 s timeout, with room for a loaded machine to start the event loop.
    assert time.monotonic() - started < 1


def test_a_wait_without_notification_times_out() -> None:
    notifier = WorkNotifier()
    started = time.monotonic()
    assert not asyncio.run(notifier.wait(notifier.generation, timeout_s=0.1))
    assert time.monotonic() - started >= 0.09


def test_one_notification_wakes_every_waiter_on_every_loop() -> None:
    notifier = WorkNotifier()
    seen = notifier.generation
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def waiter() -> None:
        async def wait() -> bool:
            barrier.wait()
            return await notifier.wait(seen, timeout_s=5)

        results.append(asyncio.run(wait()))

    threads = [threading.Thread(target=waiter) for _ in range(3)]
    for thread in threads:
        thread.start()
    barrier.wait()
    time.sleep(0.05)
    notifier.notify()
    for thread in threads:
        thread.join(5)
    assert results == [True, True, True]
