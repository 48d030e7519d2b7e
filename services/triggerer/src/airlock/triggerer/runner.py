"""The trigger runner: one supervised child per triggerer, running all its triggers in one
asyncio event loop (uvloop when installed).

Started by the triggerer with no token, no DB URL and ``AIRLOCK_ZONE=processing``, confined as
the triggerer asks (another user when it runs as root, a memory cap, Landlock: see
:mod:`airlock.sdk.execution_time.supervised`); it speaks the
channel of :mod:`airlock.triggerer.protocol` on private copies of stdin/stdout (a trigger's own
prints go to stderr). For each :class:`RunTrigger` it loads the trigger class — from the DAG file
when the class was defined there, else by module path with the bundle on ``sys.path``, as a
worker loads tasks — rebuilds the trigger from its kwargs and runs it until its first event.
A trigger that fails to load or raises is reported with its traceback; ``cleanup()`` runs only
when the triggerer says so (:class:`StopTrigger`).

Triggers share one loop, so a trigger that blocks it (a synchronous call in ``run()``) delays
all the others. Each step of each trigger is timed: one that holds the loop for more than
``BLOCKED_AFTER_S`` is reported by name and duration, and a watchdog thread reports one that is
still holding it (a trigger stuck for good), so the triggerer can name it while its own
heartbeats, which never depend on this loop, carry on. Every ``LAG_PROBE_S`` the loop's lag
(how late a sleep that should have ended wakes) is reported too, for the triggerer's metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import os
import sys
import threading
import time
import traceback
from collections.abc import AsyncGenerator, Generator
from pathlib import Path
from typing import IO, Any, cast

from airlock.sdk.bases.trigger import BaseTrigger, TaskFailedEvent, TaskSuccessEvent, TriggerEvent
from airlock.sdk.execution_time.supervised import (
    block_imports,
    confinement,
    enter_sandbox,
    parent_pid,
    read_frame,
    take_channel,
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
    to_runner_decoder,
)

#: A trigger step longer than this is a blocked loop.
BLOCKED_AFTER_S = 0.2
#: How often the loop's lag is measured and reported.
LAG_PROBE_S = 1.0
#: Longest traceback sent with a failure (the task log shows it).
MAX_TRACEBACK = 50_000


class Channel:
    """The runner's side of the channel; writes come from the loop and the watchdog thread."""

    def __init__(self, replies: IO[bytes]) -> None:
        self._out = replies
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        with self._lock:
            write_frame(self._out, message, max_frame=MAX_FRAME)


class _Step:
    """Which trigger holds the loop now, and since when (read by the watchdog)."""

    def __init__(self) -> None:
        self.trigger: RunTrigger | None = None
        self.since = 0.0
        self.reported = False


class _Timed:
    """Awaits a coroutine step by step, timing each step against the loop's budget."""

    def __init__(self, coro: Any, request: RunTrigger, runner: Runner) -> None:
        self._coro = coro
        self._request = request
        self._runner = runner

    def __await__(self) -> Generator[Any, Any, Any]:
        value: Any = None
        error: BaseException | None = None
        step = self._runner.step
        while True:
            step.trigger, step.since, step.reported = self._request, time.monotonic(), False
            try:
                yielded = self._coro.throw(error) if error is not None else self._coro.send(value)
            except StopIteration as stop:
                return stop.value
            finally:
                took = time.monotonic() - step.since
                reported = step.reported
                step.trigger = None
                if took > BLOCKED_AFTER_S:
                    self._runner.blocked(self._request, took, ongoing=False, seen=reported)
            try:
                value, error = (yield yielded), None
            except BaseException as exc:
                value, error = None, exc


class Runner:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.step = _Step()
        self.loop = asyncio.new_event_loop()
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.triggers: dict[int, BaseTrigger] = {}

    # --- messages from the triggerer (on the loop) ---------------------------------------------

    def handle(self, message: RunTrigger | StopTrigger) -> None:
        if isinstance(message, RunTrigger):
            if message.id not in self.tasks:
                self.tasks[message.id] = self.loop.create_task(
                    self._run(message), name=f"trigger-{message.id}"
                )
        else:
            self.loop.create_task(self._stop(message))

    async def _run(self, request: RunTrigger) -> None:
        try:
            trigger = load_trigger(request)
            self.triggers[request.id] = trigger
            events = cast(AsyncGenerator[TriggerEvent, None], trigger.run())
            event = await _Timed(events.__anext__(), request, self)
            await _Timed(events.aclose(), request, self)
        except asyncio.CancelledError:
            raise
        except StopAsyncIteration:
            self.channel.send(
                TriggerFailedMessage(
                    id=request.id,
                    error=f"trigger {request.classpath} ended without an event",
                )
            )
            return
        except BaseException as exc:
            text = traceback.format_exc()[-MAX_TRACEBACK:]
            print(f"trigger {request.id} ({request.label}) failed:\n{text}", file=sys.stderr)
            self.channel.send(
                TriggerFailedMessage(
                    id=request.id, error=f"{type(exc).__name__}: {exc}", traceback=text
                )
            )
            return
        outcome = (
            "success"
            if isinstance(event, TaskSuccessEvent)
            else "failed"
            if isinstance(event, TaskFailedEvent)
            else "resume"
        )
        self.channel.send(
            TriggerFiredMessage(id=request.id, payload=event.payload, outcome=outcome)
        )

    async def _stop(self, message: StopTrigger) -> None:
        task = self.tasks.pop(message.id, None)
        trigger = self.triggers.pop(message.id, None)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if message.cleanup and trigger is not None:
            try:
                await trigger.cleanup()
            except Exception:
                traceback.print_exc()

    # --- blocked loops ------------------------------------------------------------------------

    def blocked(self, request: RunTrigger, seconds: float, *, ongoing: bool, seen: bool) -> None:
        if not ongoing or not seen:
            self.channel.send(
                LoopBlocked(
                    id=request.id,
                    label=request.label,
                    classpath=request.classpath,
                    seconds=round(seconds, 3),
                    ongoing=ongoing,
                )
            )

    async def probe_lag(self) -> None:
        """Report the loop's lag every ``LAG_PROBE_S``, for as long as the runner lives."""
        while True:
            asleep = time.monotonic()
            await asyncio.sleep(LAG_PROBE_S)
            late = time.monotonic() - asleep - LAG_PROBE_S
            self.channel.send(LoopLag(seconds=round(max(0.0, late), 4)))

    def watch(self) -> None:
        """The watchdog thread: report a trigger that has held the loop past the budget."""
        while True:
            time.sleep(BLOCKED_AFTER_S / 2)
            step = self.step
            trigger, since = step.trigger, step.since
            if trigger is None or step.reported:
                continue
            held = time.monotonic() - since
            if held > BLOCKED_AFTER_S * 5:
                step.reported = True
                self.blocked(trigger, held, ongoing=True, seen=False)


def load_trigger(request: RunTrigger) -> BaseTrigger:
    """Rebuild the trigger ``request`` names: its class from the DAG's bundle, then
    ``cls(**kwargs)``."""
    module_name, _, class_name = request.classpath.rpartition(".")
    if not module_name:
        raise ImportError(f"trigger classpath {request.classpath!r} names no module")
    if request.bundle_root and request.bundle_root not in sys.path:
        sys.path.insert(0, request.bundle_root)
    module = sys.modules.get(module_name)
    if module is None and module_name.startswith("airlock_dagfile_"):
        # Defined in the DAG file itself: the file is the module (as the worker imported it).
        path = os.path.join(request.bundle_root, request.dag_rel_path)
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load DAG file {path} for trigger {request.classpath}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            exec(compile(Path(path).read_bytes(), path, "exec", dont_inherit=True), module.__dict__)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
    elif module is None:
        module = importlib.import_module(module_name)
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseTrigger)):
        raise ImportError(f"{request.classpath} is not a trigger class (a BaseTrigger subclass)")
    return cls(**request.kwargs)


def _new_loop_policy() -> None:
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def serve() -> None:
    enter_sandbox(parent_pid(), confinement=confinement())
    requests_in, replies_out = take_channel()
    block_imports("triggers", "ask for what a trigger needs in its kwargs, as plain JSON")
    sys.dont_write_bytecode = True
    _new_loop_policy()
    runner = Runner(Channel(replies_out))
    asyncio.set_event_loop(runner.loop)
    threading.Thread(target=runner.watch, name="watchdog", daemon=True).start()

    def read() -> None:
        try:
            while True:
                message = to_runner_decoder.decode(read_frame(requests_in, max_frame=MAX_FRAME))
                runner.loop.call_soon_threadsafe(runner.handle, message)
        except (EOFError, OSError):
            pass
        runner.loop.call_soon_threadsafe(runner.loop.stop)

    threading.Thread(target=read, name="reader", daemon=True).start()
    runner.loop.create_task(runner.probe_lag(), name="lag-probe")
    runner.loop.run_forever()
    os._exit(0)


if __name__ == "__main__":
    serve()
