"""A worker says what happens during a short API outage (issue 19, part 4): the first failure,
each backoff and the recovery, once each, with the URL and what went wrong — however many of
its requests (two pollers, a poll sent after another gave up) met the outage."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from airlock.models.states import TaskInstanceState
from tests.support.processes import Home, free_port, start_api, stop
from tests.test_worker import make_rig

pytestmark = pytest.mark.slow


def test_a_short_api_outage_is_logged_at_its_start_each_wait_and_its_end(
    home: Home, tmp_path: Path
) -> None:
    port = free_port()
    server = start_api(home, "execution,web,internal", port=port)
    rig = make_rig(home, server.url, tmp_path)
    try:
        rig.start_worker()
        (first,) = rig.queue_tasks("hello")
        assert rig.wait_done([first]) == {"hello": TaskInstanceState.SUCCESS}
        server.process.kill()
        server.process.wait()
        time.sleep(3)
        server = start_api(home, "execution,web,internal", port=port)
        (after,) = rig.queue_tasks("hello")
        assert rig.wait_done([after], timeout=60) == {"hello": TaskInstanceState.SUCCESS}
    finally:
        output = rig.stop_workers()
        stop(server)
        rig.db.close()
    poll = f"POST {server.url}/execution/workloads/next"
    lines = [line for line in output.splitlines() if poll in line]
    first_failures = [line for line in lines if f"{poll} failed (" in line]
    waits = [line for line in lines if f"{poll} failed again (" in line]
    recoveries = [
        line for line in lines if re.search(f"{poll} answered 200 after \\d+ attempts", line)
    ]
    assert len(first_failures) == 1, output
    assert "WARNING" in first_failures[0]
    assert re.search(r"failed \((Connect|RemoteProtocol)Error", first_failures[0]), first_failures
    assert "retrying in" in first_failures[0]
    assert waits, output  # each backoff, one line each
    assert all("attempt " in line for line in waits)
    assert len(recoveries) == 1, output
    assert "the API failed for" in recoveries[0]
