"""Starting, timing out, killing and reaping supervised children, with real processes: a kill
reaches what the child started, and a child never outlives its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from airlock.sdk.execution_time.supervised import (
    ORPHAN_EXIT_CODE,
    PARENT_PID_VARIABLE,
    Child,
)
from tests.support.waiting import alive, wait_until

pytestmark = pytest.mark.slow

STARTS_A_GRANDCHILD = """
import subprocess, sys, time
sleeper = subprocess.Popen(["sleep", "60"])
print(sleeper.pid, flush=True)
{then}
"""


def read_int(child: Child) -> int:
    assert child.stdout is not None
    return int(child.stdout.readline())


def test_a_child_leads_its_own_process_group(python_child: Callable[..., Child]) -> None:
    child = python_child("import os; print(os.getpgid(0), os.getsid(0), flush=True)")
    assert child.stdout is not None
    assert child.stdout.readline().split() == [str(child.pid).encode()] * 2
    assert child.wait(5) == 0


def test_a_child_that_overruns_its_timeout_is_killed_with_its_group(
    python_child: Callable[..., Child],
) -> None:
    child = python_child(STARTS_A_GRANDCHILD.format(then="time.sleep(60)"))
    grandchild = read_int(child)
    assert child.wait(0.2) is None, "still running"
    assert child.wait_or_kill(0.3) == -signal.SIGKILL
    assert wait_until(lambda: not alive(grandchild)), "the kill reached what the child started"


def test_closing_a_child_kills_what_it_left_behind(python_child: Callable[..., Child]) -> None:
    child = python_child(STARTS_A_GRANDCHILD.format(then="sys.exit(3)"))
    grandchild = read_int(child)
    assert child.wait(5) == 3
    assert alive(grandchild)
    child.close()
    assert wait_until(lambda: not alive(grandchild))


PARENT = """
import os, sys, threading
from airlock.sdk.execution_time.supervised import start_child

children = []
# Started from a thread that ends at once: the child must not die with that thread.
thread = threading.Thread(
    target=lambda: children.append(
        start_child([sys.executable, sys.argv[1]], env=os.environ, stdout=None)
    )
)
thread.start()
thread.join()
print(children[0].pid, flush=True)
sys.stdin.read()
"""

CHILD = """
import os, signal, time
from airlock.sdk.execution_time.supervised import enter_sandbox, parent_pid

enter_sandbox(parent_pid())
while True:
    time.sleep(1)
"""


def test_a_child_dies_with_its_parent_even_started_from_a_finished_thread(tmp_path: Path) -> None:
    (tmp_path / "parent.py").write_text(textwrap.dedent(PARENT))
    (tmp_path / "child.py").write_text(textwrap.dedent(CHILD))
    parent = subprocess.Popen(
        [sys.executable, str(tmp_path / "parent.py"), str(tmp_path / "child.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert not wait_until(lambda: not alive(child), 0.5), "alive while its parent is"
        parent.kill()
        parent.wait()
        assert wait_until(lambda: not alive(child), 5), "PR_SET_PDEATHSIG"
    finally:
        parent.kill()
        parent.wait()


def test_a_child_whose_parent_is_gone_before_it_enters_the_sandbox_exits(tmp_path: Path) -> None:
    (tmp_path / "child.py").write_text(textwrap.dedent(CHILD))
    # As if its parent (another pid) had died and this process had been adopted by the test.
    env = {**os.environ, PARENT_PID_VARIABLE: str(os.getpid() + 1_000_000)}
    result = subprocess.run(
        [sys.executable, str(tmp_path / "child.py")], env=env, timeout=30, check=False
    )
    assert result.returncode == ORPHAN_EXIT_CODE
