"""The watcher runner: one supervised child per triggerer, running every leased asset watcher's
event trigger in one asyncio loop, for as long as the watcher is held.

Started like the trigger runner (:mod:`airlock.triggerer.runner`: no token, no DB URL,
``AIRLOCK_ZONE=processing``, the same import guard and sandbox); it speaks
:mod:`airlock.triggerer.watch_protocol`. For each watcher it rebuilds the trigger and drives its
``run()`` generator:

- an :class:`~airlock.sdk.bases.trigger.ExternalEvent` or
  :class:`~airlock.sdk.bases.trigger.EventBatch` is sent up; the generator is resumed only when
  the triggerer answers that the events are stored, so the code after its ``yield`` (the ack)
  never runs for an event that is not in the database. Refused (lease lost): the generator is
  closed without resuming, the source keeps the message for the next holder.
- a :class:`~airlock.sdk.bases.trigger.SourceStatus` is sent up as the watcher's status.
- a plain ``TriggerEvent`` (an Airflow-style trigger) gets a random dedup key.

A trigger that raises or ends is reported ``failed`` with its error and started again after a
backoff (1 s doubling to 60 s): a watcher runs until its lease ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import traceback
import uuid
from collections.abc import AsyncGenerator
from typing import IO, Any, cast

from airlock.sdk.bases.trigger import (
    BaseEventTrigger,
    EventBatch,
    ExternalEvent,
    SourceStatus,
    TriggerEvent,
)
from airlock.sdk.definitions.connection import Connection
from airlock.sdk.execution_time.supervised import (
    block_imports,
    enter_sandbox,
    parent_pid,
    read_frame,
    take_channel,
    write_frame,
)
from airlock.triggerer.runner import load_trigger
from airlock.triggerer.watch_protocol import (
    MAX_FRAME,
    EventsStored,
    RunWatcher,
    StopWatcher,
    WatcherEvents,
    WatcherStatusReport,
    to_runner_decoder,
)

#: Restart backoff of a watcher whose trigger raised or ended.
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0


class _Stopped(Exception):
    """The triggerer refused the events: the lease moved on."""


class WatchRunner:
    def __init__(self, replies: IO[bytes]) -> None:
        self._out = replies
        self._write_lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.requests: dict[int, RunWatcher] = {}
        self.waiting: dict[tuple[int, int], asyncio.Future[bool]] = {}

    def send(self, message: Any) -> None:
        with self._write_lock:
            write_frame(self._out, message, max_frame=MAX_FRAME)

    def handle(self, message: RunWatcher | StopWatcher | EventsStored) -> None:
        if isinstance(message, RunWatcher):
            # A watcher already running keeps running; its next restart uses this request (the
            # triggerer sends it again with the connections fetched anew after a failure).
            self.requests[message.id] = message
            if message.id not in self.tasks or self.tasks[message.id].done():
                self.tasks[message.id] = self.loop.create_task(
                    self._watch(message.id), name=f"watcher-{message.id}"
                )
        elif isinstance(message, StopWatcher):
            self.requests.pop(message.id, None)
            task = self.tasks.pop(message.id, None)
            if task is not None:
                task.cancel()
        else:
            future = self.waiting.pop((message.id, message.seq), None)
            if future is not None and not future.done():
                future.set_result(message.ok)

    def _status(self, watcher_id: int, state: str, **more: Any) -> None:
        self.send(WatcherStatusReport(id=watcher_id, state=state, **more))

    async def _watch(self, watcher_id: int) -> None:
        backoff = FIRST_BACKOFF_S
        while True:
            request = self.requests.get(watcher_id)
            if request is None:
                return
            try:
                stored = await self._run_once(request)
            except asyncio.CancelledError:
                raise
            except _Stopped:
                return
            except BaseException as exc:
                text = traceback.format_exc()[-20_000:]
                print(f"watcher {request.id} ({request.label}) failed:\n{text}", file=sys.stderr)
                error = f"{type(exc).__name__}: {exc}"
                self._status(request.id, "failed", error=f"{error} (restarting in {backoff:.0f} s)")
            else:
                error = f"trigger {request.classpath} ended; a watcher's trigger must run on"
                self._status(request.id, "failed", error=error)
                if stored:
                    backoff = FIRST_BACKOFF_S
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _run_once(self, request: RunWatcher) -> bool:
        """Run the trigger until it ends; whether it stored anything."""
        trigger = load_trigger(cast(Any, request))
        if not isinstance(trigger, BaseEventTrigger):
            raise TypeError(f"{request.classpath} is not a BaseEventTrigger")
        trigger.connections = {
            conn_id: Connection(**{f: getattr(info, f) for f in info.__struct_fields__})
            for conn_id, info in request.connections.items()
        }
        generator = cast(AsyncGenerator[Any, None], trigger.run())
        seq = 0
        stored_any = False
        self._status(request.id, "starting")
        try:
            item = await generator.__anext__()
            while True:
                if isinstance(item, SourceStatus):
                    self._status(request.id, item.state, lag=item.lag, error=item.error)
                elif isinstance(item, TriggerEvent):
                    seq += 1
                    events = _as_pairs(item)
                    if events:
                        future: asyncio.Future[bool] = self.loop.create_future()
                        self.waiting[(request.id, seq)] = future
                        self.send(WatcherEvents(id=request.id, seq=seq, events=events))
                        if not await future:
                            raise _Stopped()
                        stored_any = True
                item = await generator.__anext__()
        except StopAsyncIteration:
            return stored_any
        finally:
            for key in [k for k in self.waiting if k[0] == request.id]:
                self.waiting.pop(key).cancel()
            with contextlib.suppress(BaseException):
                await generator.aclose()
            with contextlib.suppress(BaseException):
                await trigger.cleanup()


def _as_pairs(item: TriggerEvent) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(item, EventBatch):
        return [(e.dedup_key, dict(e.payload or {})) for e in item.events]
    if isinstance(item, ExternalEvent):
        return [(item.dedup_key, dict(item.payload or {}))]
    payload = item.payload
    return [(uuid.uuid4().hex, payload if isinstance(payload, dict) else {"payload": payload})]


def serve() -> None:
    enter_sandbox(parent_pid())
    requests_in, replies_out = take_channel()
    block_imports("triggers", "ask for what a trigger needs in its kwargs, as plain JSON")
    sys.dont_write_bytecode = True
    runner = WatchRunner(replies_out)
    asyncio.set_event_loop(runner.loop)

    def read() -> None:
        try:
            while True:
                message = to_runner_decoder.decode(read_frame(requests_in, max_frame=MAX_FRAME))
                runner.loop.call_soon_threadsafe(runner.handle, message)
        except (EOFError, OSError):
            pass
        runner.loop.call_soon_threadsafe(runner.loop.stop)

    threading.Thread(target=read, name="reader", daemon=True).start()
    runner.loop.run_forever()
    os._exit(0)


if __name__ == "__main__":
    serve()
