"""Helpers for the supervised-child tests: a Python child started the way every parent starts
one, and a poll for a condition that real processes reach in their own time."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airlock.sdk.execution_time.supervised import Child, start_child


def wait_until(condition: Callable[[], bool], timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def python_child(tmp_path: Path) -> Iterator[Callable[..., Child]]:
    """Start ``source`` (dedented) as a supervised Python child; every one is closed at the end."""
    started: list[Child] = []

    def start(source: str, **kwargs: object) -> Child:
        script = tmp_path / f"child_{len(started)}.py"
        script.write_text(textwrap.dedent(source))
        child = start_child(
            [sys.executable, str(script)],
            env={**os.environ, "PYTHONUNBUFFERED": "1", "AIRLOCK_TEST_SECRET": "hunter2"},
            stdout=subprocess.PIPE,
            **kwargs,  # type: ignore[arg-type]
        )
        started.append(child)
        return child

    yield start
    for child in started:
        child.close()
