"""Helpers for the supervised-child tests: a Python child started the way every parent starts
one, and a poll for a condition that real processes reach in their own time."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airlock.sdk.execution_time.supervised import Child, start_child


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
