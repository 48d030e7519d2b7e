"""Trigger rules: may a task run, given the states of its direct upstream task instances?

Pure functions over counts, so the whole table is testable without a database. Each rule answers
one of four :class:`Decision` values. A rule decides as soon as the outcome can no longer change
(``all_success`` with one failed upstream is ``UPSTREAM_FAILED`` at once, without waiting for the
others); otherwise it waits until enough upstream tasks are done. ``removed`` upstream instances
are left out of the counts, and a task without upstream tasks always runs.

The rules are Airflow 3's:

=============================  ===================================================================
rule                           runs when … / otherwise
=============================  ===================================================================
all_success                    every upstream succeeded; a failure → upstream_failed, a skip → skipped
all_failed                     every upstream failed or upstream_failed; a success or skip → skipped
all_done                       every upstream is done, whatever its state
all_done_min_one_success       all done and ≥ 1 success; all skipped → skipped, else upstream_failed
all_done_setup_success         all done and ≥ 1 direct setup succeeded (if it has setups); all its
                               setups skipped → skipped; none succeeded → upstream_failed
one_success                    ≥ 1 success; all done without one: all skipped → skipped, else
                               upstream_failed
one_failed                     ≥ 1 failed or upstream_failed; all done without one → skipped
one_done                       ≥ 1 success or failed; all done without one → skipped
none_failed                    all done, none failed; a failure → upstream_failed
none_failed_min_one_success    all done, none failed, ≥ 1 success; a failure → upstream_failed;
                               all skipped → skipped
none_skipped                   all done, none skipped; a skip → skipped
always                         at once
all_skipped                    every upstream skipped; a success or failure → skipped
=============================  ===================================================================
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from airlock.models.dag import TriggerRule
from airlock.models.states import TaskInstanceState as TIS


class Decision(enum.Enum):
    WAIT = "wait"
    RUN = "run"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


@dataclass(slots=True)
class UpstreamCounts:
    """States of a task's direct upstream task instances (removed ones excluded)."""

    total: int = 0
    success: int = 0
    skipped: int = 0
    failed: int = 0
    upstream_failed: int = 0
    #: The same counts restricted to direct upstream *setup* tasks.
    setup_total: int = 0
    setup_success: int = 0
    setup_skipped: int = 0

    @property
    def done(self) -> int:
        return self.success + self.skipped + self.failed + self.upstream_failed

    @property
    def failures(self) -> int:
        return self.failed + self.upstream_failed

    def add(self, state: TIS | None, *, is_setup: bool = False) -> None:
        if state is TIS.REMOVED:
            return
        self.total += 1
        if state is TIS.SUCCESS:
            self.success += 1
        elif state is TIS.SKIPPED:
            self.skipped += 1
        elif state is TIS.FAILED:
            self.failed += 1
        elif state is TIS.UPSTREAM_FAILED:
            self.upstream_failed += 1
        if is_setup:
            self.setup_total += 1
            self.setup_success += state is TIS.SUCCESS
            self.setup_skipped += state is TIS.SKIPPED


def decide(rule: TriggerRule, counts: UpstreamCounts) -> Decision:
    """Apply ``rule`` to ``counts``."""
    if counts.total == 0 or rule is TriggerRule.ALWAYS:
        return Decision.RUN
    all_done = counts.done == counts.total
    if rule is TriggerRule.ALL_SUCCESS:
        if counts.failures:
            return Decision.UPSTREAM_FAILED
        if counts.skipped:
            return Decision.SKIP
        return Decision.RUN if counts.success == counts.total else Decision.WAIT
    if rule is TriggerRule.ALL_FAILED:
        if counts.success or counts.skipped:
            return Decision.SKIP
        return Decision.RUN if all_done else Decision.WAIT
    if rule is TriggerRule.ALL_DONE:
        return Decision.RUN if all_done else Decision.WAIT
    if rule is TriggerRule.ALL_DONE_MIN_ONE_SUCCESS:
        if not all_done:
            return Decision.WAIT
        return Decision.RUN if counts.success else _nothing_succeeded(counts)
    if rule is TriggerRule.ALL_DONE_SETUP_SUCCESS:
        if not all_done:
            return Decision.WAIT
        if counts.setup_total == 0 or counts.setup_success:
            return Decision.RUN
        if counts.setup_skipped == counts.setup_total:
            return Decision.SKIP
        return Decision.UPSTREAM_FAILED
    if rule is TriggerRule.ONE_SUCCESS:
        if counts.success:
            return Decision.RUN
        return _nothing_succeeded(counts) if all_done else Decision.WAIT
    if rule is TriggerRule.ONE_FAILED:
        if counts.failures:
            return Decision.RUN
        return Decision.SKIP if all_done else Decision.WAIT
    if rule is TriggerRule.ONE_DONE:
        if counts.success or counts.failed:
            return Decision.RUN
        return Decision.SKIP if all_done else Decision.WAIT
    if rule is TriggerRule.NONE_FAILED:
        if counts.failures:
            return Decision.UPSTREAM_FAILED
        return Decision.RUN if all_done else Decision.WAIT
    if rule is TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
        if counts.failures:
            return Decision.UPSTREAM_FAILED
        if not all_done:
            return Decision.WAIT
        return Decision.RUN if counts.success else Decision.SKIP
    if rule is TriggerRule.NONE_SKIPPED:
        if counts.skipped:
            return Decision.SKIP
        return Decision.RUN if all_done else Decision.WAIT
    if rule is TriggerRule.ALL_SKIPPED:
        if counts.success or counts.failures:
            return Decision.SKIP
        return Decision.RUN if all_done else Decision.WAIT
    raise ValueError(f"unknown trigger rule {rule!r}")


def _nothing_succeeded(counts: UpstreamCounts) -> Decision:
    return Decision.SKIP if counts.skipped == counts.total else Decision.UPSTREAM_FAILED


def decide_setup_scope(setup_states: Iterable[TIS | None]) -> Decision | None:
    """What the setups whose scope a task is in (not directly upstream) impose on it.

    A failed setup makes the task ``upstream_failed`` and a skipped one ``skipped``, whatever its
    trigger rule; while one of them is not done the task waits; ``None`` leaves the decision to
    the trigger rule.
    """
    waiting = skipped = False
    for state in setup_states:
        if state in (TIS.FAILED, TIS.UPSTREAM_FAILED):
            return Decision.UPSTREAM_FAILED
        if state is TIS.SKIPPED:
            skipped = True
        elif state not in (TIS.SUCCESS, TIS.REMOVED):
            waiting = True
    if skipped:
        return Decision.SKIP
    return Decision.WAIT if waiting else None
