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
    worker = Worker(api_url="http://127.0.0.1:9", token="t", concurrency=8)
    yield worker
    worker.zygote.close()


def wanted(
    worker: Worker,
    *,
    free: int,
    backlog: int = 0,
    finishing: int = 0,
    finishing_for_s: float = 0.0,
    in_flight: int = 0,
) -> int:
    """How many slots the worker asks for in this situation (the hand-out starts them all)."""
    worker._free = free
    worker._in_flight = in_flight
    worker._backlog.extend([None] * backlog)  # type: ignore[list-item]
    given = time.monotonic() - finishing_for_s
    worker._finishing.update((object(), given) for _ in range(finishing))  # type: ignore[misc]
    try:
        return worker._wanted()
    finally:
        worker._backlog.clear()
        worker._finishing.clear()
        worker._in_flight = 0


def test_free_slots_are_asked_for_at_once(worker: Worker) -> None:
    assert wanted(worker, free=8) == 8
    assert wanted(worker, free=1) == 1
    assert wanted(worker, free=0) == 0


def test_slots_of_tasks_that_reported_their_outcome_count_as_free(worker: Worker) -> None:
    """Their processes are exiting: the poll goes out now, and what it brings is started."""
    assert wanted(worker, free=0, finishing=2) == 2
    assert wanted(worker, free=1, backlog=1, finishing=1) == 1


def test_a_slot_whose_report_takes_long_stops_counting_as_free(worker: Worker) -> None:
    """A task started for it would wait in the backlog, running on the server's books with no
    heartbeat, for as long as the report is retried."""
    stuck = FINISHING_CREDIT_S + 1
    assert wanted(worker, free=0, finishing=2, finishing_for_s=stuck) == 0
    assert wanted(worker, free=1, finishing=1, finishing_for_s=stuck) == 1


def test_a_second_poll_asks_only_for_what_the_one_out_does_not_cover(worker: Worker) -> None:
    assert wanted(worker, free=3, in_flight=2) == 1
    assert wanted(worker, free=2, in_flight=2) == 0


def test_what_waits_in_the_backlog_is_not_asked_for_again(worker: Worker) -> None:
    assert wanted(worker, free=3, backlog=2) == 1
    assert wanted(worker, free=2, backlog=3) == 0


def test_an_unreachable_api_is_reported_and_retried_until_stopped(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    """The poll's first failure is logged at once (by the SDK's request path, which then keeps
    trying), and stopping the worker ends the outage's retries."""
    stop = threading.Event()
    with caplog.at_level(logging.WARNING):
        thread = threading.Thread(target=worker.run, args=(stop,))
        thread.start()
        threading.Timer(2.0, stop.set).start()
        thread.join(30)
    assert not thread.is_alive()
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        m.startswith("POST http://127.0.0.1:9/execution/workloads/next failed (ConnectError")
        for m in messages
    ), messages
    assert worker.zygote.pid is None, "the zygote was stopped with the worker"
