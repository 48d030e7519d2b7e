"""``run-all``'s supervisor as a real process: one service that keeps exiting is restarted with a
growing back-off and reported, and never stops the others; services forked by the fork server
run with their own settings and command line, and the fork server holds none of them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from airlock.cli import stack_supervisor
from airlock.cli.stack_supervisor import MAX_BACKOFF_S, backoff_s

NO_SETTINGS = {k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")}


def start_supervisor(stack: dict[str, Any]) -> subprocess.Popen[str]:
    """The supervisor as ``run-all`` execs it, given ``stack`` in an inherited file."""
    read, write = os.pipe()
    os.write(write, json.dumps(stack).encode())
    os.close(write)
    supervisor = subprocess.Popen(
        [sys.executable, "-I", "-S", stack_supervisor.__file__, str(read)],
        pass_fds=[read],
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(read)
    return supervisor


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
    supervisor = start_supervisor({"services": services})
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


def test_a_forked_service_gets_its_settings_and_command_line_and_the_fork_server_none(
    tmp_path: Path,
) -> None:
    token = "secret-worker-token-for-this-test"
    command = [sys.executable, "-m", "airlock.cli", "worker", "--name", "forked-worker"]
    env = {
        **NO_SETTINGS,
        "AIRLOCK_HOME": str(tmp_path),
        "AIRLOCK_WORKER__API_URL": "http://127.0.0.1:9",  # nothing listens: it keeps retrying
        "AIRLOCK_WORKER__TOKEN": token,
    }
    supervisor = start_supervisor(
        {
            "services": {"worker": (command, env)},
            "fork_server": ([sys.executable, "-m", "airlock.cli.fork_server"], NO_SETTINGS),
        }
    )
    try:
        deadline = time.monotonic() + 30
        worker = None
        while worker is None:
            assert time.monotonic() < deadline, "the forked worker never appeared"
            assert supervisor.poll() is None
            for child in psutil.Process(supervisor.pid).children():
                if child.cmdline() == command:
                    worker = child
            time.sleep(0.1)
        (server,) = [
            c
            for c in psutil.Process(supervisor.pid).children()
            if "airlock.cli.fork_server" in c.cmdline()
        ]
        # What the fork server and its forks were started with: no setting, no token.
        for process in (server, worker):
            started_with = Path(f"/proc/{process.pid}/environ").read_bytes()
            assert b"AIRLOCK_" not in started_with
        # The worker runs with its own settings: it keeps its children's list in its home.
        while not (tmp_path / "run" / "children").exists():
            assert time.monotonic() < deadline, "the forked worker never used its AIRLOCK_HOME"
            time.sleep(0.1)
    finally:
        supervisor.send_signal(signal.SIGTERM)
        _, stderr = supervisor.communicate(timeout=30)
    assert supervisor.returncode == 0, stderr
    assert "fork server could not start" not in stderr
    assert not worker.is_running()
    assert not server.is_running()
