"""Running one callback attempt in a supervised child, with a deadline.

Children are started when a callback first needs one (an idle processor holds none: each child
is an interpreter, ~19 MB) and then reused (a callback costs its DAG file's import once per
child, not an interpreter start); one is replaced when its callback overran (killed with its
process group), broke the channel, exited, left threads behind, or after ``max_callbacks``.
Each child is confined as its processor asks (:class:`Confinement`: another user when the processor
runs as root, a memory cap, and with Landlock only the bundles, a temp folder, the Python install
and the system's folders to open), so callback code cannot read the processor's token or files.
Whatever happens to a child, the attempt gets an outcome naming it, and nothing else is harmed.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from airlock.callback_processor.protocol import (
    MAX_FRAME,
    CallbackFinished,
    ChildReady,
    ConnectionReply,
    GetConnection,
    GetVariable,
    RunCallback,
    VariableReply,
    from_child_decoder,
)
from airlock.models.secrets import ConnectionInfo
from airlock.sdk.execution_time.supervised import (
    PASSED_ENV,
    Confinement,
    FrameError,
    child_environment,
    decode_message,
    read_frame,
    start_child,
    write_frame,
)

#: How long a new child may take to start (import the SDK) before its first callback is sent.
CHILD_START_S = 60.0

#: Asks the processor for a variable / connection of a bundle.
GetVariableOf = Callable[[str, str], str | None]
GetConnectionOf = Callable[[str, str], ConnectionInfo | None]


class _StartTimeout(Exception):
    """A new child did not say it was ready in time."""


class CallbackChild:
    def __init__(self, confinement: Confinement | None = None) -> None:
        env = {
            **child_environment(os.environ, "processing", only=PASSED_ENV),
            "PYTHONUNBUFFERED": "1",
        }
        cwd = Path.cwd()
        if confinement is not None and confinement.writable:
            env["TMPDIR"] = confinement.writable[0]
            cwd = Path(confinement.writable[0])
        self.child = start_child(
            [sys.executable, "-m", "airlock.callback_processor.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=cwd,
            confinement=confinement,
        )
        self.callbacks_run = 0
        #: It has said ``ChildReady`` (its start-up is over).
        self.ready = False

    def close(self) -> None:
        self.child.close()


class ChildPool:
    def __init__(
        self,
        *,
        timeout_s: float,
        max_callbacks: int,
        get_variable: GetVariableOf,
        get_connection: GetConnectionOf,
        prestart: int = 0,
        confinement: Confinement | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._confinement = confinement
        self._max_callbacks = max_callbacks
        self._get_variable = get_variable
        self._get_connection = get_connection
        self._lock = threading.Lock()
        self._idle: list[CallbackChild] = [CallbackChild(confinement) for _ in range(prestart)]
        self.replaced = 0

    def run(self, bundle: str, request: RunCallback) -> CallbackFinished:
        """Run ``request`` in a child; its outcome, whatever the child did."""
        child = self._checkout()
        try:
            result = self._drive(child, bundle, request)
        except _StartTimeout:
            result = CallbackFinished(
                error=f"the callback's process did not start within {CHILD_START_S:g} s",
                must_restart=True,
            )
        except TimeoutError:
            result = CallbackFinished(
                error=f"the callback ran longer than {self._timeout_s:g} s and was killed",
                must_restart=True,
            )
        except FrameError as exc:
            result = CallbackFinished(
                error=f"the callback's process broke its channel: {exc}", must_restart=True
            )
        except (EOFError, OSError) as exc:
            code = child.child.wait(2)
            how = f"exited with code {code}" if code is not None else f"broke its pipe ({exc})"
            result = CallbackFinished(
                error=f"the callback's process {how} before the callback finished",
                must_restart=True,
            )
        child.callbacks_run += 1
        self._checkin(child, replace=result.must_restart)
        return result

    def _drive(self, child: CallbackChild, bundle: str, request: RunCallback) -> CallbackFinished:
        stdin, stdout = child.child.stdin, child.child.stdout
        assert stdin is not None
        assert stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            if not child.ready:
                if not selector.select(CHILD_START_S):
                    raise _StartTimeout
                first = decode_message(
                    from_child_decoder,
                    read_frame(stdout, max_frame=MAX_FRAME),
                    sender="the callback's process",
                )
                if not isinstance(first, ChildReady):
                    raise FrameError(f"it sent {type(first).__name__} before it was ready")
                child.ready = True
            write_frame(stdin, request, max_frame=MAX_FRAME)
            deadline = time.monotonic() + self._timeout_s
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise TimeoutError
                message = decode_message(
                    from_child_decoder,
                    read_frame(stdout, max_frame=MAX_FRAME),
                    sender="the callback's process",
                )
                if isinstance(message, CallbackFinished):
                    return message
                if isinstance(message, GetVariable):
                    answer: VariableReply | ConnectionReply = VariableReply(
                        value=self._get_variable(bundle, message.key)
                    )
                elif isinstance(message, GetConnection):
                    answer = ConnectionReply(
                        connection=self._get_connection(bundle, message.conn_id)
                    )
                else:
                    raise FrameError(f"it sent {type(message).__name__} during a callback")
                write_frame(stdin, answer, max_frame=MAX_FRAME)

    def _checkout(self) -> CallbackChild:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return CallbackChild(self._confinement)

    def _checkin(self, child: CallbackChild, *, replace: bool) -> None:
        if replace or child.callbacks_run >= self._max_callbacks or child.child.poll() is not None:
            child.close()
            self.replaced += 1
            return
        with self._lock:
            self._idle.append(child)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.close()
