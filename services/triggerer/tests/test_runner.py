"""The trigger runner as the triggerer drives it: a real supervised child, spoken to over its
channel. It fires a trigger's first event, reports a trigger that raises or cannot be imported
with its traceback, names a trigger that blocks its loop, reports its loop's lag every second,
and runs ``cleanup()`` only when told."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airlock.sdk.execution_time.supervised import (
    Child,
    child_environment,
    decode_message,
    read_frame,
    start_child,
    write_frame,
)
from airlock.triggerer.protocol import (
    MAX_FRAME,
    LoopBlocked,
    LoopLag,
    RunTrigger,
    StopTrigger,
    TriggerFailedMessage,
    TriggerFiredMessage,
    from_runner_decoder,
)

TRIGGERS = """
import asyncio, time
from pathlib import Path
from airlock.sdk import BaseTrigger, TriggerEvent, TaskSuccessEvent

class Sleepy(BaseTrigger):
    def __init__(self, seconds, marker, block=0.0, succeed=False):
        self.seconds, self.marker, self.block, self.succeed = seconds, marker, block, succeed

    def serialize(self):
        return "mytriggers.Sleepy", vars(self)

    async def run(self):
        if self.block:
            time.sleep(self.block)
        await asyncio.sleep(self.seconds)
        yield (TaskSuccessEvent if self.succeed else TriggerEvent)({"slept": self.seconds})

    async def cleanup(self):
        Path(self.marker).touch()

class Broken(BaseTrigger):
    def serialize(self):
        return "mytriggers.Broken", {}

    async def run(self):
        raise RuntimeError("the remote job is gone")
        yield
"""


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Child]:
    (tmp_path / "mytriggers.py").write_text(TRIGGERS)
    env = child_environment(os.environ, "processing", only=("PATH", "HOME", "VIRTUAL_ENV"))
    child = start_child(
        [sys.executable, "-m", "airlock.triggerer.runner"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        yield child
    finally:
        child.close()


def _run(child: Child, trigger_id: int, classpath: str, bundle: Path, **kwargs: object) -> None:
    assert child.stdin is not None
    write_frame(
        child.stdin,
        RunTrigger(
            id=trigger_id,
            classpath=classpath,
            kwargs=dict(kwargs),
            bundle_root=str(bundle),
            dag_rel_path="dag.py",
            label=f"dag.task{trigger_id}",
        ),
        max_frame=MAX_FRAME,
    )


def _next(child: Child, timeout_s: float = 10, *, lags: list[LoopLag] | None = None) -> object:
    """The runner's next report but the loop's lag (sent every second), which goes to ``lags``."""
    assert child.stdout is not None
    deadline = time.monotonic() + timeout_s
    while True:
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            assert selector.select(deadline - time.monotonic()), "the runner said nothing"
        payload = read_frame(child.stdout, max_frame=MAX_FRAME)
        message = decode_message(from_runner_decoder, payload, sender="the runner")
        if not isinstance(message, LoopLag):
            return message
        if lags is not None:
            lags.append(message)


def test_triggers_fire_and_clean_up_only_when_told(runner: Child, tmp_path: Path) -> None:
    done, moved = tmp_path / "done", tmp_path / "moved"
    _run(runner, 1, "mytriggers.Sleepy", tmp_path, seconds=0.1, marker=str(done))
    _run(runner, 2, "mytriggers.Sleepy", tmp_path, seconds=0.2, marker=str(moved))
    _run(runner, 3, "mytriggers.Sleepy", tmp_path, seconds=0.1, marker="x", succeed=True)
    fired = [_next(runner) for _ in range(3)]
    assert {m.id: (m.payload, m.outcome) for m in fired if isinstance(m, TriggerFiredMessage)} == {
        1: ({"slept": 0.1}, "resume"),
        2: ({"slept": 0.2}, "resume"),
        3: ({"slept": 0.1}, "success"),
    }
    assert runner.stdin is not None
    write_frame(runner.stdin, StopTrigger(id=1, cleanup=True), max_frame=MAX_FRAME)
    write_frame(runner.stdin, StopTrigger(id=2, cleanup=False), max_frame=MAX_FRAME)
    deadline = time.monotonic() + 5
    while not done.exists():
        assert time.monotonic() < deadline, "cleanup() did not run"
        time.sleep(0.05)
    time.sleep(0.3)
    assert not moved.exists(), "cleanup() ran for a trigger that moved elsewhere"


def test_a_raising_or_missing_trigger_is_reported_with_its_traceback(
    runner: Child, tmp_path: Path
) -> None:
    _run(runner, 1, "mytriggers.Broken", tmp_path)
    _run(runner, 2, "nowhere.Nothing", tmp_path)
    _run(runner, 3, "os.path", tmp_path)
    failed = {m.id: m for m in (_next(runner) for _ in range(3))}
    assert all(isinstance(m, TriggerFailedMessage) for m in failed.values())
    first = failed[1]
    assert isinstance(first, TriggerFailedMessage)
    assert first.error == "RuntimeError: the remote job is gone"
    assert "in run" in str(first.traceback)
    assert "No module named 'nowhere'" in str(getattr(failed[2], "error", ""))
    assert "not a trigger class" in str(getattr(failed[3], "error", ""))


def test_a_trigger_blocking_the_loop_is_named_and_the_others_still_fire(
    runner: Child, tmp_path: Path
) -> None:
    _run(runner, 1, "mytriggers.Sleepy", tmp_path, seconds=0, marker="x", block=0.5)
    _run(runner, 2, "mytriggers.Sleepy", tmp_path, seconds=0.05, marker="x")
    messages = [_next(runner) for _ in range(3)]
    blocked = [m for m in messages if isinstance(m, LoopBlocked)]
    assert [(b.id, b.label, b.classpath) for b in blocked] == [
        (1, "dag.task1", "mytriggers.Sleepy")
    ]
    assert blocked[0].seconds >= 0.5
    assert {m.id for m in messages if isinstance(m, TriggerFiredMessage)} == {1, 2}


def test_the_loops_lag_is_reported_every_second(runner: Child, tmp_path: Path) -> None:
    lags: list[LoopLag] = []
    _run(runner, 1, "mytriggers.Sleepy", tmp_path, seconds=0, marker="x", block=1.5)
    # It fires after its block; meanwhile the probe due every second woke late.
    fired = _next(runner, lags=lags)
    while not isinstance(fired, TriggerFiredMessage):  # the watchdog's LoopBlocked reports
        fired = _next(runner, lags=lags)
    _run(runner, 2, "mytriggers.Sleepy", tmp_path, seconds=1.5, marker="x")
    assert isinstance(_next(runner, lags=lags), TriggerFiredMessage)
    assert len(lags) >= 2, lags
    assert max(lag.seconds for lag in lags) >= 0.25, lags
