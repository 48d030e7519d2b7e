"""The supervisor's polling: how many workloads it asks for, and how it behaves while the
Execution API cannot be reached."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from airlock.worker.supervisor import FINISHING_CREDIT_S, Worker


@pytest.fixture
def worker() -> Iterator[Worker]:
    worker = Worker(api_url="http://127.0.0.1:9", token="t", concurrency=8, prefetch=4)
    yield worker
    worker.zygote.close()


def wanted(
    worker: Worker,
    *,
    free: int,
    backlog: int,
    busy: bool,
    finishing: int = 0,
    finishing_for_s: float = 0.0,
    in_flight: tuple[int, int] = (0, 0),
) -> tuple[int, int]:
    """What the worker asks for in this situation: (slots, how many of them to start)."""
    worker._free = free
    worker._in_flight, worker._in_flight_start = in_flight
    worker._backlog.extend([None] * backlog)  # type: ignore[list-item]
    given = time.monotonic() - finishing_for_s
    worker._finishing.update((object(), given) for _ in range(finishing))  # type: ignore[misc]
    worker._busy_queues = busy
    try:
        slots = worker._wanted()
        return slots, worker._startable(slots)
    finally:
        worker._backlog.clear()
        worker._finishing.clear()
        worker._in_flight = worker._in_flight_start = 0


def test_free_slots_are_asked_for_at_once_and_started_by_the_hand_out(worker: Worker) -> None:
    assert wanted(worker, free=8, backlog=0, busy=False) == (8, 8)
    assert wanted(worker, free=1, backlog=0, busy=False) == (1, 1)


def test_slots_of_tasks_that_reported_their_outcome_count_as_free(worker: Worker) -> None:
    """Their processes are exiting: the poll goes out now, and what it brings is started."""
    assert wanted(worker, free=0, backlog=0, busy=False, finishing=2) == (2, 2)
    assert wanted(worker, free=1, backlog=1, busy=False, finishing=1) == (1, 1)


def test_a_slot_whose_report_takes_long_stops_counting_as_free(worker: Worker) -> None:
    """A task started for it would wait in the backlog, running on the server's books with no
    heartbeat, for as long as the report is retried."""
    stuck = FINISHING_CREDIT_S + 1
    assert wanted(worker, free=0, backlog=0, busy=False, finishing=2, finishing_for_s=stuck) == (
        0,
        0,
    )
    assert wanted(worker, free=1, backlog=0, busy=False, finishing=1, finishing_for_s=stuck) == (
        1,
        1,
    )


def test_a_second_poll_asks_only_for_what_the_one_out_does_not_cover(worker: Worker) -> None:
    assert wanted(worker, free=3, backlog=0, busy=False, in_flight=(2, 2)) == (1, 1)
    assert wanted(worker, free=2, backlog=0, busy=False, in_flight=(2, 2)) == (0, 0)
    assert wanted(worker, free=8, backlog=0, busy=True, in_flight=(4, 4)) == (0, 0), (
        "a prefetch is topped up by one poll at a time"
    )


def test_busy_queues_add_a_prefetch_that_is_not_started(worker: Worker) -> None:
    """A prefetched workload waits in the backlog: it must not count as running meanwhile."""
    assert wanted(worker, free=8, backlog=0, busy=True) == (12, 8)
    assert wanted(worker, free=0, backlog=0, busy=True) == (4, 0)
    assert wanted(worker, free=3, backlog=2, busy=True) == (5, 1)


def test_a_prefetch_is_topped_up_by_halves_not_one_by_one(worker: Worker) -> None:
    assert wanted(worker, free=0, backlog=3, busy=True) == (0, 0)
    assert wanted(worker, free=0, backlog=2, busy=True) == (2, 0)
    assert wanted(worker, free=0, backlog=0, busy=False) == (0, 0), "idle queues: no prefetch"


def test_no_prefetch_by_default() -> None:
    """With the hand-out starting what a poll brings, a poll goes out as soon as a task reports
    its outcome; a prefetch would only add start calls (its workloads are not started)."""
    worker = Worker(api_url="http://127.0.0.1:9", token="t", concurrency=8)
    try:
        assert worker.prefetch == 0
        assert wanted(worker, free=0, backlog=0, busy=True) == (0, 0)
    finally:
        worker.zygote.close()


def test_an_unreachable_api_is_reported_and_retried_until_stopped(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    stop = threading.Event()
    with caplog.at_level(logging.WARNING, logger="airlock.worker"):
        thread = threading.Thread(target=worker.run, args=(stop,))
        thread.start()
        threading.Timer(2.0, stop.set).start()
        thread.join(30)
    assert not thread.is_alive()
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        "cannot get work from the Execution API at http://127.0.0.1:9" in m for m in messages
    ), messages
    assert worker.zygote.pid is None, "the zygote was stopped with the worker"
