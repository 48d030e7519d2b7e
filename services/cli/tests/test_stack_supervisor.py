"""``run-all``'s supervisor as a real process: one service that keeps exiting is restarted with a
growing back-off and reported, and never stops the others."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from airlock.cli import stack_supervisor
from airlock.cli.stack_supervisor import MAX_BACKOFF_S, backoff_s


def test_backoff_doubles_and_is_capped() -> None:
    waits = [backoff_s(n) for n in range(1, 12)]
    assert waits[:3] == [0.5, 1.0, 2.0]
    assert waits == sorted(waits)
    assert waits[-1] == MAX_BACKOFF_S


def test_a_service_that_keeps_exiting_never_stops_the_stack(tmp_path: Path) -> None:
    alive = tmp_path / "alive"
    services = {
        "crashing": ([sys.executable, "-c", "import sys; sys.exit(3)"], dict(os.environ)),
        "steady": (
            [
                sys.executable,
                "-c",
                f"import pathlib, time; pathlib.Path({str(alive)!r}).touch(); time.sleep(60)",
            ],
            dict(os.environ),
        ),
    }
    read, write = os.pipe()
    os.write(write, json.dumps(services).encode())
    os.close(write)
    supervisor = subprocess.Popen(
        [sys.executable, "-I", "-S", stack_supervisor.__file__, str(read)],
        pass_fds=[read],
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(read)
    try:
        time.sleep(5)  # exits at 0, ~0.5, ~1.7 and ~4 s: far more than a burst of restarts
        assert supervisor.poll() is None, "the supervisor stopped the stack"
        assert alive.exists()
    finally:
        supervisor.send_signal(signal.SIGTERM)
        _, stderr = supervisor.communicate(timeout=20)
    assert supervisor.returncode == 0
    reports = [line for line in stderr.splitlines() if "crashing exited with code 3" in line]
    assert len(reports) >= 3, stderr
    assert "restarting it in 0.5 s" in reports[0]
    assert "restarting it in 2.0 s" in reports[2]
    assert "steady exited" not in stderr
