"""LatestOnlyOperator: let downstream tasks run only in the most recent scheduled run.

A DAG that catches up on missed intervals often has work that makes sense only "now" (a
notification, a deploy). This task decides like a branch: in a scheduled run whose next run is
already due (an older, catch-up run), it skips its direct downstream tasks; in the latest
scheduled run, and in any run that is not scheduled (manual, asset-triggered), it follows them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airlock.models.states import DagRunType
from airlock.sdk.bases.branch import BranchDecision
from airlock.sdk.definitions.baseoperator import BaseOperator
from airlock.sdk.definitions.timetables import CronTriggerTimetable, DeltaTriggerTimetable
from airlock.sdk.timezone import coerce_datetime, utcnow


class LatestOnlyOperator(BaseOperator):
    """Skip the direct downstream tasks unless this is the latest scheduled run."""

    is_branch = True
    ui_color = "#e9ffdb"

    def _next_run_after(self, run_after: dt.datetime) -> dt.datetime | None:
        timetable = self.dag.timetable if self.dag is not None else None
        if isinstance(timetable, DeltaTriggerTimetable):
            return run_after + timetable.delta
        if isinstance(timetable, CronTriggerTimetable):
            import pendulum
            from croniter import croniter

            zone = pendulum.timezone(timetable.timezone or self.dag.timezone)  # type: ignore[union-attr]
            following = croniter(timetable.expression, run_after.astimezone(zone)).get_next(
                dt.datetime
            )
            return coerce_datetime(following)
        return None

    def execute(self, context: Any) -> BranchDecision:
        downstream = tuple(sorted(self.downstream_task_ids))
        follow = BranchDecision(downstream, ())
        dag_run = context["dag_run"]
        if dag_run.run_type != DagRunType.SCHEDULED:
            return follow
        run_after = dag_run.run_after or dag_run.logical_date
        if run_after is None:
            return follow
        upcoming = self._next_run_after(run_after)
        if upcoming is None or utcnow() < upcoming:
            return follow
        return BranchDecision((), downstream)
