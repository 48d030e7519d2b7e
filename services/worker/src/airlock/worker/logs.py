"""A task's output, cut into lines and shipped to the Execution API in numbered batches.

The task process writes whatever it likes to file descriptors 1 and 2; the supervisor reads the
pipe without blocking and feeds the bytes here. Lines are sent every ``[worker] log_batch_s``, when
a batch grows large, and when the try ends — never on a timer that delays the task. Each batch
carries a sequence number; a batch whose upload failed is sent again with the same number (the API
stores a repeated batch once), and the backlog is bounded so an unreachable API cannot make the
worker run out of memory. Every line passes ``redact`` (the try's secrets masker) before it is
batched, so no secret handed to the task reaches the stored log.
"""

from __future__ import annotations

import codecs
import logging
import time
from collections.abc import Callable

import httpx

from airlock.models.execution import LogBatch
from airlock.sdk.api import ApiError

log = logging.getLogger("airlock.worker")

#: A batch is sent early once it has this many lines or bytes.
BATCH_MAX_LINES = 2000
BATCH_MAX_BYTES = 1_000_000
#: A line longer than this is cut in pieces.
MAX_LINE_CHARS = 16_384
#: Lines kept while the API is unreachable; older ones are dropped (and the drop is logged).
MAX_BACKLOG_LINES = 100_000
WORKER_PREFIX = "[airlock worker] "
#: Answers after which a batch is dropped rather than sent again.
_FINAL_REFUSALS = frozenset({401, 403, 404, 409, 413, 422})


class LogShipper:
    def __init__(
        self,
        send: Callable[[LogBatch], object],
        *,
        try_number: int,
        batch_s: float,
        redact: Callable[[str], str] = str,
    ) -> None:
        self._send = send
        self._redact = redact
        self._try_number = try_number
        self._batch_s = batch_s
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._lines: list[str] = []
        self._bytes = 0
        #: Batches cut but not yet accepted by the API, with their sequence numbers.
        self._unsent: list[LogBatch] = []
        self._seq = 0
        self._lost = 0
        self._next_flush = time.monotonic() + batch_s
        self.lines_shipped = 0

    def continue_from(self, seq: int) -> None:
        """Number the next batches from ``seq`` on: a try resumed after a deferral continues
        the numbering of the batches its first part sent (the API keeps one batch per number)."""
        if seq > self._seq:
            self._unsent = [
                LogBatch(try_number=b.try_number, seq=seq + i, lines=b.lines)
                for i, b in enumerate(self._unsent)
            ]
            self._seq = seq + len(self._unsent)

    # --- input --------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        text = self._partial + self._decoder.decode(data)
        *complete, self._partial = text.split("\n")
        for line in complete:
            self._add(line.removesuffix("\r"))
        while len(self._partial) > MAX_LINE_CHARS:
            self._add(self._partial[:MAX_LINE_CHARS])
            self._partial = self._partial[MAX_LINE_CHARS:]

    def note(self, message: str) -> None:
        """A line from the worker itself (why it killed the task, what it could not do)."""
        self._add(WORKER_PREFIX + message)

    def _add(self, line: str) -> None:
        line = self._redact(line)
        for start in range(0, max(len(line), 1), MAX_LINE_CHARS):
            piece = line[start : start + MAX_LINE_CHARS]
            self._lines.append(piece)
            self._bytes += len(piece) + 1

    # --- output -------------------------------------------------------------------------------
    @property
    def due_at(self) -> float | None:
        """When the next timed flush is due (``None``: nothing waits)."""
        return self._next_flush if (self._lines or self._unsent) else None

    def maybe_flush(self, now: float) -> None:
        full = len(self._lines) >= BATCH_MAX_LINES or self._bytes >= BATCH_MAX_BYTES
        if full or (now >= self._next_flush and (self._lines or self._unsent)):
            self.flush()

    def flush(self, *, final: bool = False) -> bool:
        """Send what is pending; true when nothing is left unsent."""
        if final:
            rest = self._partial + self._decoder.decode(b"", final=True)
            self._partial = ""
            if rest:
                self._add(rest)
        self._cut()
        self._next_flush = time.monotonic() + self._batch_s
        while self._unsent:
            batch = self._unsent[0]
            try:
                self._send(batch)
            except ApiError as exc:
                if exc.status in _FINAL_REFUSALS:
                    # The try is over for the API (or the batch is bad): retrying cannot help.
                    log.warning("the Execution API refused %d log lines: %s", len(batch.lines), exc)
                    self._unsent.pop(0)
                    continue
                log.warning("could not ship %d log lines (will retry): %s", len(batch.lines), exc)
                return False
            except httpx.HTTPError as exc:
                log.warning("could not ship %d log lines (will retry): %s", len(batch.lines), exc)
                return False
            self._unsent.pop(0)
            self.lines_shipped += len(batch.lines)
        return True

    def _cut(self) -> None:
        # Make room first, oldest batches first, so what is cut now is what survives.
        backlog = len(self._lines) + sum(len(b.lines) for b in self._unsent)
        while backlog > MAX_BACKLOG_LINES and self._unsent:
            count = len(self._unsent.pop(0).lines)
            backlog -= count
            self._lost += count
            log.error("dropped %d log lines of a task: the Execution API did not take them", count)
        if self._lines and self._lost:
            self._lines.insert(
                0,
                f"{WORKER_PREFIX}{self._lost} earlier log lines were lost: the Execution API "
                "did not take them",
            )
            self._lost = 0
        while self._lines:
            lines = self._lines[:BATCH_MAX_LINES]
            del self._lines[:BATCH_MAX_LINES]
            self._unsent.append(LogBatch(try_number=self._try_number, seq=self._seq, lines=lines))
            self._seq += 1
        self._bytes = 0
