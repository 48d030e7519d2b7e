"""Apply runners' end reports, those of one run that arrive together in one transaction.

Every task end locks its run until it commits (``airlock.scheduling.finish_tasks``): that is what
makes two siblings ending at once see each other, but it also makes the run's lock a queue. In a
wide run the ends of its tasks arrive several at a time, and each waited for the ones before it,
holding its request thread, so the lock — held through the transaction's round trips — capped
how many tasks a run could end per second.

So the reports wait here instead, grouped by run (the task token names it). The first to come
for a run applies every report of that run waiting at that moment, in one transaction: one lock,
one scheduling of the run, one commit. Reports that arrive meanwhile wait for it and go together
in the next transaction, applied by one of their own threads. Under light load a batch is one
report, applied at once: nothing waits for a batch to fill.

A batch never holds two reports of the same task instance (a retried call racing its first
send): the later one waits for the next batch, so it sees the first one's effect and answers as
a repeat. If a batch fails as a whole (the database refused a value of one report), each of its
reports is applied again on its own, so each answers for itself.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from airlock.models.states import TaskInstanceState
from airlock.scheduling import DagCache, StateConflict, TaskEnd, TaskInstanceNotFound, finish_tasks

#: At most this many reports in one transaction.
MAX_BATCH = 64

RunKey = tuple[str, str]


@dataclass(slots=True)
class _Report:
    end: TaskEnd
    done: bool = False
    result: TaskInstanceState | StateConflict | TaskInstanceNotFound | None = None
    error: BaseException | None = field(default=None)

    def answer(self) -> TaskInstanceState:
        if self.error is not None:
            raise self.error
        if isinstance(self.result, Exception):
            raise self.result
        assert self.result is not None
        return self.result


class TaskEnds:
    """Where the Execution API applies end reports (from its request threads)."""

    def __init__(
        self, sessions: Callable[[], AbstractContextManager[Session]], dag_cache: DagCache
    ) -> None:
        self._sessions = sessions
        self._dag_cache = dag_cache
        self._cond = threading.Condition()
        self._waiting: dict[RunKey, list[_Report]] = {}
        #: Runs whose batch is being applied now.
        self._busy: set[RunKey] = set()

    def apply(self, run: RunKey, end: TaskEnd) -> TaskInstanceState:
        """Apply ``end`` (of a task instance of ``run``) and commit; the state the task ended in.

        Raises ``StateConflict`` or ``TaskInstanceNotFound`` when the report is refused, and
        whatever the database raised if it could not be applied.
        """
        report = _Report(end)
        with self._cond:
            self._waiting.setdefault(run, []).append(report)
            while not report.done:
                if run in self._busy:
                    self._cond.wait()
                    continue
                batch = self._take(run)
                self._busy.add(run)
                self._cond.release()
                try:
                    self._apply(run, batch)
                finally:
                    for taken in batch:  # only if interrupted (_apply answers every report)
                        if not taken.done:
                            taken.error = RuntimeError("applying the report was interrupted")
                            taken.done = True
                    self._cond.acquire()
                    self._busy.discard(run)
                    self._cond.notify_all()
        return report.answer()

    def _take(self, run: RunKey) -> list[_Report]:
        """The waiting reports of ``run`` for one batch (one per task instance, in arrival
        order). Called holding the lock."""
        waiting = self._waiting.pop(run, [])
        batch: list[_Report] = []
        left: list[_Report] = []
        seen: set[str] = set()
        for report in waiting:
            if report.end.ti_id in seen or len(batch) >= MAX_BATCH:
                left.append(report)
            else:
                seen.add(report.end.ti_id)
                batch.append(report)
        if left:
            self._waiting[run] = left
        return batch

    def _apply(self, run: RunKey, batch: list[_Report]) -> None:
        try:
            with self._sessions() as session:
                results = finish_tasks(
                    session,
                    [report.end for report in batch],
                    self._dag_cache,
                    dt.datetime.now(dt.UTC),
                    run_key=run,
                )
                session.commit()
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                batch[0].done = True
                return
            for report in batch:  # each on its own, so each answers for itself
                self._apply(run, [report])
            return
        for report, result in zip(batch, results, strict=True):
            report.result = result
            report.done = True
