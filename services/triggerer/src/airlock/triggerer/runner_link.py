"""The triggerer's end of one runner child: the trigger runner and the watcher runner are each a
supervised child (:mod:`airlock.sdk.execution_time.supervised`) that the triggerer starts on
demand, writes framed messages to under one lock, and reads reports from on a thread of its own.

The host (:class:`~airlock.triggerer.triggerer.Triggerer`,
:class:`~airlock.triggerer.watchers.WatcherHost`) decides when a runner is needed and what a
report means; a runner that died is noticed by the host (:attr:`RunnerLink.running`), which
starts another and sends it every trigger or watcher still held.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from airlock.sdk.execution_time.supervised import (
    PASSED_ENV,
    Child,
    Confinement,
    FrameError,
    Message,
    child_environment,
    decode_message,
    read_frame,
    start_child,
    write_frame,
)

log = logging.getLogger("airlock.triggerer")


class RunnerLink:
    def __init__(
        self,
        module: str,
        *,
        name: str,
        decoder: Any,
        max_frame: int,
        on_report: Callable[[Any], None],
    ) -> None:
        """``module`` is run as ``python -m``; ``name`` ("trigger runner") names it in logs;
        each frame it sends is decoded with ``decoder`` and handed to ``on_report``."""
        self._module = module
        self.name = name
        self._decoder = decoder
        self._max_frame = max_frame
        self._on_report = on_report
        self._write_lock = threading.Lock()
        self.child: Child | None = None

    @property
    def running(self) -> bool:
        return self.child is not None and self.child.poll() is None

    def start(self, *, tmp: str | None, confinement: Confinement | None) -> None:
        """Start a runner (with ``tmp`` as its temp and working folder) and its reader."""
        self.child = start_child(
            [sys.executable, "-m", self._module],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={
                **child_environment(os.environ, "processing", only=PASSED_ENV),
                **({"TMPDIR": tmp} if tmp else {}),
            },
            cwd=tmp,
            confinement=confinement,
        )
        threading.Thread(
            target=self._read,
            args=(self.child,),
            name=f"{self.name.replace(' ', '-')}-reader",
            daemon=True,
        ).start()

    def send(self, message: Message) -> None:
        child = self.child
        if child is None or child.stdin is None:
            return
        try:
            with self._write_lock:
                write_frame(child.stdin, message, max_frame=self._max_frame)
        except (OSError, ValueError):
            pass  # a dead runner: the host starts another, which gets everything held

    def _read(self, child: Child) -> None:
        assert child.stdout is not None
        try:
            while True:
                payload = read_frame(child.stdout, max_frame=self._max_frame)
                self._on_report(decode_message(self._decoder, payload, sender=f"the {self.name}"))
        except (EOFError, OSError, FrameError) as exc:
            log.warning("the %s stopped talking (%s)", self.name, exc)

    def close(self) -> None:
        if self.child is not None:
            self.child.close()
