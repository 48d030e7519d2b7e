"""Confirming, in one request, the tasks one poll's hand-out started for this worker (ADR 0020).

The hand-out moves the tasks a poll takes to ``running`` before the reply leaves the server; the
server holds each such start only if the worker confirms it within ``[execution]
start_confirm_s``, else gives it back to the queue (the reply may have been lost). A task's code
runs only once its start is confirmed, so it can never run here and elsewhere too.

The worker sends the confirmation the moment the poll's reply arrives, from a thread of its own,
while the task processes are forked and load their DAG files; each task waits for its answer
just before its code would run. One request confirms every start of the poll (one transaction on
the server), where a heartbeat per task did before. While the API is unreachable the request is
retried for up to ``CONFIRM_PATIENCE_S``; past the server's deadline its answer is no.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import httpx

from airlock.models.execution import StartConfirmation, StartToConfirm, Workload
from airlock.sdk.api import ApiError, ExecutionClient

log = logging.getLogger("airlock.worker")

#: How long to keep trying to confirm while the API is unreachable (past the server's
#: ``start_confirm_s`` its answer is no, unless the confirmation got through).
CONFIRM_PATIENCE_S = 60.0
#: Answers after which retrying cannot help (the worker token refused, the request refused).
_REFUSED = frozenset({400, 401, 403, 404, 405, 413, 422})


class PollStarts:
    """The starts one poll brought: :meth:`send` confirms them (once, on the confirmer's thread),
    :meth:`wait` gives one task's answer."""

    def __init__(self, workloads: Sequence[Workload], hostname: str, pid: int) -> None:
        self._request = StartConfirmation(
            hostname=hostname,
            pid=pid,
            starts=[StartToConfirm(ti_id=w.ti.id, token=w.token) for w in workloads],
        )
        #: ti id -> None (confirmed) or why its task must not run.
        self._answers: dict[str, str | None] = {}
        self._done = threading.Event()

    def send(self, make_client: Callable[[], ExecutionClient], stopping: threading.Event) -> None:
        """Confirm every start, retrying while the API is unreachable; never raises."""
        client = make_client()
        try:
            self._answers = self._confirm(client, stopping)
        except Exception as exc:
            log.exception("could not confirm %d started task(s)", len(self._request.starts))
            self._answers = self._all(f"its start could not be confirmed: {exc!r}")
        finally:
            client.close()
            self._done.set()

    def _confirm(self, client: ExecutionClient, stopping: threading.Event) -> dict[str, str | None]:
        give_up = time.monotonic() + CONFIRM_PATIENCE_S
        delay = 0.2
        while True:
            try:
                reply = client.confirm_starts(self._request)
            except ApiError as exc:
                if exc.status in _REFUSED:
                    return self._all(f"the server refused to confirm its start ({exc.detail})")
                error: Exception = exc
            except httpx.HTTPError as exc:
                error = exc
            else:
                answers = self._all("the server's answer did not name it")
                for answer in reply.starts:
                    if answer.ti_id not in answers:
                        continue
                    if answer.keep_running:
                        answers[answer.ti_id] = None
                    else:
                        why = answer.detail or "its start no longer holds"
                        state = f" (it is {answer.state})" if answer.state else ""
                        answers[answer.ti_id] = f"the server gave its start back: {why}{state}"
                return answers
            if time.monotonic() > give_up or stopping.is_set():
                return self._all(f"its start could not be confirmed: {error}")
            log.warning(
                "could not confirm %d started task(s) (%s); retrying",
                len(self._request.starts),
                error,
            )
            stopping.wait(delay)
            delay = min(delay * 2, 2.0)

    def _all(self, why: str) -> dict[str, str | None]:
        return {start.ti_id: why for start in self._request.starts}

    def wait(self, ti_id: str) -> str | None:
        """None once ``ti_id``'s start is confirmed, otherwise why its task must not run."""
        if not self._done.wait(CONFIRM_PATIENCE_S + 30.0):
            return "its start was not confirmed in time"
        return self._answers.get(ti_id, "it was not among the starts confirmed")
