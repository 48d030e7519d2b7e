"""The scheduler loop: everything that does not happen by itself when an API call changes state.

One pass (:meth:`Scheduler.run_once`), each step in its own short transaction:

1. heartbeat the ``component_heartbeat`` row (at most once a second);
2. recompute ``next_dagrun*`` of DAGs that are new, changed or unpaused, and create the
   time-scheduled runs that are due (:mod:`airlock.scheduler.dag_runs`), then the runs of DAGs
   whose asset condition queued events satisfy (:mod:`airlock.scheduling.asset_runs`);
3. examine active runs of unpaused DAGs, least recently examined first, up to
   ``max_runs_per_loop``: a read-only check first (``needs_scheduling``), and only if something
   would change, a pass in its own transaction with the run locked (PostgreSQL: runs another
   scheduler holds are skipped) — leaving ready task instances ``scheduled``. A run the last
   pass found quiet whose instances' counts per state (``instance_marks``, one query for all)
   did not move is only checked for its timeout, not read again, until the next housekeeping;
4. queue ``scheduled`` task instances across all runs by priority, within pools and limits;
5. every few seconds: fail or retry tasks whose heartbeat stopped or whose
   ``execution_timeout`` passed, release expired claims, resume (to fail) deferred tasks whose
   trigger timed out, forget triggers that fired, and claim missed deadlines (queuing their
   callbacks).

Between passes it loops again at once if the pass made progress; otherwise it waits for a change
(:mod:`airlock.scheduler.wakeup`), for the next known due time, or ``loop_interval_s`` at most.
A database error ends the pass, not the scheduler: it backs off and tries again. Every step is
safe to interrupt anywhere (SIGKILL included): all state lives in the database and every change
is conditional, so a restarted scheduler simply carries on.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from airlock.core.settings import Settings
from airlock.db import Dag, DagRun
from airlock.models.states import DagRunState
from airlock.scheduler import dag_runs, heartbeat, wakeup
from airlock.scheduler.metrics import loop_done
from airlock.scheduling import (
    BadDagVersion,
    DagCache,
    claim_missed_deadlines,
    create_asset_triggered_runs,
    expire_claims,
    fail_timed_out,
    fail_zombies,
    instance_marks,
    needs_scheduling,
    queue_scheduled,
    return_unconfirmed,
    schedule_run,
    try_lock_run,
)
from airlock.scheduling.telemetry import scheduling_span
from airlock.scheduling.triggers import forget_fired, time_out_triggers

log = logging.getLogger(__name__)


@dataclass
class LoopReport:
    """What one pass did."""

    next_runs_computed: int = 0
    runs_created: int = 0
    runs_examined: int = 0
    runs_started: int = 0
    runs_finished: int = 0
    tis_changed: int = 0
    tis_queued: int = 0
    tis_waiting: int = 0
    zombies: int = 0
    timed_out: int = 0
    claims_released: int = 0
    triggers_timed_out: int = 0
    #: Unconfirmed starts queued again.
    starts_returned: int = 0
    deadlines_missed: int = 0

    @property
    def progress(self) -> bool:
        """Whether the pass changed something that may make more work possible at once."""
        return any(
            getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("runs_examined", "tis_waiting", "claims_released", "deadlines_missed")
        )


class Scheduler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        name: str = "scheduler",
        loop_interval_s: float = 1.0,
        task_heartbeat_timeout_s: float = 60.0,
        max_tis_per_loop: int = 512,
        claim_lease_s: float = 60.0,
        start_confirm_s: float = 10.0,
        max_runs_per_loop: int = 100,
        housekeeping_interval_s: float = 5.0,
        timeout_grace_s: float = 30.0,
        poll_s: float = 0.2,
        dag_cache: DagCache | None = None,
    ) -> None:
        self._sessions = sessions
        self.name = name
        self.loop_interval_s = loop_interval_s
        self._heartbeat_timeout_s = task_heartbeat_timeout_s
        self._max_tis = max_tis_per_loop
        self._claim_lease_s = claim_lease_s
        self._start_confirm_s = start_confirm_s
        self._last_confirm_check = -1e9
        self._max_runs = max_runs_per_loop
        self._housekeeping_interval_s = housekeeping_interval_s
        self._timeout_grace_s = timeout_grace_s
        self._poll_s = min(poll_s, loop_interval_s)
        self.cache = dag_cache or DagCache()
        self._next_runs = dag_runs.NextRunTracker(self.cache)
        self._last_beat = -1e9
        self._last_housekeeping = -1e9
        self._started = False
        self._seen: tuple[object, ...] | None = None
        #: Runs the last pass found nothing to do in, with their instances' marks then.
        self._quiet: dict[int, tuple[object, ...]] = {}
        #: When a batch window or debounce of an asset-scheduled DAG next comes due.
        self._asset_due: dt.datetime | None = None

    @classmethod
    def from_settings(cls, settings: Settings, sessions: sessionmaker[Session]) -> Scheduler:
        config = settings.scheduler
        return cls(
            sessions,
            name=config.name,
            loop_interval_s=config.loop_interval_s,
            task_heartbeat_timeout_s=config.task_heartbeat_timeout_s,
            max_tis_per_loop=config.max_tis_per_loop,
            claim_lease_s=settings.execution.claim_lease_s,
            start_confirm_s=settings.execution.start_confirm_s,
            housekeeping_interval_s=min(5.0, max(0.5, config.task_heartbeat_timeout_s / 6)),
        )

    # --- one pass ----------------------------------------------------------------------------

    def run_once(self, now: dt.datetime | None = None) -> LoopReport:
        """One pass of the loop (``now`` fixes the clock, for tests)."""
        report = LoopReport()
        with self._sessions() as session:
            self._seen = wakeup.fingerprint(session)
            self._heartbeat(session, now or _utcnow())
            report.next_runs_computed = self._next_runs.refresh(session, now or _utcnow())
            session.commit()
            created = dag_runs.create_due_runs(session, self.cache, now or _utcnow())
            session.commit()
            asset_due: list[dt.datetime] = []
            created += create_asset_triggered_runs(
                session, self.cache, now or _utcnow(), due=asset_due
            )
            session.commit()
            self._asset_due = min(asset_due, default=None)
            report.runs_created = len(created)
        self._examine_runs(report, now)
        with self._sessions() as session:
            queued = queue_scheduled(session, self.cache, now or _utcnow(), limit=self._max_tis)
            session.commit()
            report.tis_queued += len(queued)
        # Every second: a lost hand-out comes back to the queue within seconds of its deadline.
        if time.monotonic() - self._last_confirm_check >= 1.0:
            with self._sessions() as session:
                report.starts_returned = return_unconfirmed(
                    session, now or _utcnow(), self._start_confirm_s
                )
                session.commit()
            self._last_confirm_check = time.monotonic()
        if time.monotonic() - self._last_housekeeping >= self._housekeeping_interval_s:
            self._housekeeping(report, now)
            self._quiet.clear()  # the next pass reads every run's rows again
            self._last_housekeeping = time.monotonic()
        return report

    def _heartbeat(self, session: Session, now: dt.datetime) -> None:
        if time.monotonic() - self._last_beat < 1.0:
            return
        heartbeat.beat(session, self.name, now, starting=not self._started)
        self._started = True
        self._last_beat = time.monotonic()

    def _examine_runs(self, report: LoopReport, now: dt.datetime | None) -> None:
        with self._sessions() as session:
            runs = session.scalars(
                select(DagRun)
                .join(Dag, Dag.dag_id == DagRun.dag_id)
                .where(
                    DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING]),
                    Dag.is_paused.is_(False),
                )
                .order_by(DagRun.last_scheduling_decision.asc().nulls_first(), DagRun.id)
                .limit(self._max_runs)
            ).all()
            marks = instance_marks(session, [run.id for run in runs])
            run_ids = self._not_quiet(session, runs, marks, now or _utcnow())
        for run_id in run_ids:
            mark = marks.get(run_id)
            with self._sessions() as session:
                try:
                    run = session.get(DagRun, run_id)
                    if run is None:
                        continue
                    if not needs_scheduling(session, run, self.cache, now or _utcnow()):
                        if mark is not None:
                            self._quiet[run_id] = mark
                        continue
                    session.rollback()  # end the read; lock and decide on fresh data
                    run = try_lock_run(session, run_id)
                    if run is None:
                        continue
                    with scheduling_span(session, run):
                        result = schedule_run(
                            session, run, self.cache, now or _utcnow(), queue=False
                        )
                    session.commit()
                except DBAPIError:
                    raise
                except Exception:
                    session.rollback()
                    log.exception("could not schedule run %s; skipping it this time", run_id)
                    continue
            report.runs_examined += 1
            report.runs_started += result.started
            report.runs_finished += result.finished
            report.tis_changed += result.changed
            report.tis_waiting += result.waiting

    def _not_quiet(
        self,
        session: Session,
        runs: Sequence[DagRun],
        marks: dict[int, tuple[object, ...]],
        now: dt.datetime,
    ) -> list[int]:
        """The runs to examine: all but those the last pass found quiet whose instances kept
        their marks and whose timeout has not come (those stay quiet, unread)."""
        quiet, self._quiet = self._quiet, {}
        examine: list[int] = []
        for run in runs:
            mark = marks.get(run.id)
            if mark is not None and quiet.get(run.id) == mark:
                try:
                    if not needs_scheduling(session, run, self.cache, now, unchanged=True):
                        self._quiet[run.id] = mark
                        continue
                except BadDagVersion:
                    pass  # examined below, where it is logged
            examine.append(run.id)
        return examine

    def _housekeeping(self, report: LoopReport, now: dt.datetime | None) -> None:
        with self._sessions() as session:
            report.zombies = len(
                fail_zombies(session, now or _utcnow(), self._heartbeat_timeout_s, self.cache)
            )
            session.commit()
            report.timed_out = len(
                fail_timed_out(session, now or _utcnow(), self.cache, grace_s=self._timeout_grace_s)
            )
            session.commit()
            report.claims_released = expire_claims(session, now or _utcnow(), self._claim_lease_s)
            session.commit()
            report.triggers_timed_out = len(time_out_triggers(session, now or _utcnow()))
            forget_fired(session, now or _utcnow())
            report.deadlines_missed = claim_missed_deadlines(session, now or _utcnow())
            session.commit()

    # --- forever -------------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set; then return (the current pass finishes first)."""
        log.info("scheduler %s started (loop interval %ss)", self.name, self.loop_interval_s)
        failures = 0
        while not stop.is_set():
            try:
                began = time.monotonic()
                report = self.run_once()
                loop_done(time.monotonic() - began)
                failures = 0
                if report.progress:
                    log.debug("pass: %s", report)
                    continue
                with self._sessions() as session:
                    due = wakeup.next_due(session, _utcnow())
                if self._asset_due is not None:
                    due = self._asset_due if due is None else min(due, self._asset_due)
                wakeup.wait_for_work(
                    self._sessions,
                    stop,
                    timeout_s=self.loop_interval_s,
                    poll_s=self._poll_s,
                    due=due,
                    seen=self._seen,
                )
            except DBAPIError as exc:
                failures += 1
                backoff = min(30.0, 0.5 * 2**failures)
                log.warning(
                    "database error (%s); retrying in %.1fs", exc.__class__.__name__, backoff
                )
                stop.wait(backoff)
            except Exception:
                # Data never stops the scheduler: a row it cannot handle is logged, and the
                # next pass (after a capped back-off) schedules everything else.
                failures += 1
                backoff = min(30.0, 0.5 * 2**failures)
                log.exception("scheduler pass failed; retrying in %.1fs", backoff)
                stop.wait(backoff)
        log.info("scheduler %s stopped", self.name)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
