"""What a killed parent's children left running is killed by the next parent that starts, with
real processes: a child dies with its parent, but the subprocess it started does not until then;
a parent that still runs keeps its children."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.waiting import alive, wait_until

pytestmark = pytest.mark.slow

PARENT = """
import os, sys
from pathlib import Path
from airlock.sdk.execution_time.supervised import start_child, track_children

print(track_children(Path(sys.argv[1])), flush=True)
if len(sys.argv) > 2:
    child = start_child([sys.executable, sys.argv[2]], env=os.environ, stdout=None)
    sys.stdin.read()
"""

CHILD = """
import subprocess, time
from airlock.sdk.execution_time.supervised import enter_sandbox, parent_pid

enter_sandbox(parent_pid())
sleeper = subprocess.Popen(["sleep", "120"])
print(sleeper.pid, flush=True)
time.sleep(120)
"""


@pytest.fixture
def scripts(tmp_path: Path) -> tuple[Path, Path, Path]:
    (tmp_path / "parent.py").write_text(textwrap.dedent(PARENT))
    (tmp_path / "child.py").write_text(textwrap.dedent(CHILD))
    return tmp_path / "parent.py", tmp_path / "child.py", tmp_path / "children"


def start_parent(parent: Path, child: Path, folder: Path) -> tuple[subprocess.Popen[str], int]:
    """A parent tracking its children in ``folder``, and the pid of what its child started."""
    process = subprocess.Popen(
        [sys.executable, str(parent), str(folder), str(child)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "0"  # nothing was left to kill
    return process, int(process.stdout.readline())


def next_parent(parent: Path, folder: Path) -> int:
    """How many processes a parent that starts now kills."""
    done = subprocess.run(
        [sys.executable, str(parent), str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(done.stdout)


def test_the_next_parent_kills_what_a_killed_parents_child_left(
    scripts: tuple[Path, Path, Path],
) -> None:
    parent, child, folder = scripts
    process, sleeper = start_parent(parent, child, folder)
    try:
        process.kill()
        process.wait()
        # The child died with its parent; what it started did not.
        assert not wait_until(lambda: not alive(sleeper), 1), "the sleeper outlives its parents"
        assert next_parent(parent, folder) == 1
        assert wait_until(lambda: not alive(sleeper), 5), "killed by the next parent"
        assert list(folder.iterdir()) == [], "the dead parent's list is gone"
    finally:
        process.kill()
        process.wait()
        subprocess.run(["kill", "-9", str(sleeper)], check=False, capture_output=True)


def test_a_running_parents_children_are_left_alone(scripts: tuple[Path, Path, Path]) -> None:
    parent, child, folder = scripts
    process, sleeper = start_parent(parent, child, folder)
    try:
        assert next_parent(parent, folder) == 0
        assert alive(sleeper)
    finally:
        process.kill()
        process.wait()
        subprocess.run(["kill", "-9", str(sleeper)], check=False, capture_output=True)
