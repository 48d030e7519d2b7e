"""Start the runs a pushed asset event is due to make, in the request that stored it.

An event pushed through the Web API (``POST /assets/events``, a receiver's delivery) is
committed first — the answer never depends on what follows. Then, in a second transaction,
the consumers of its asset whose run policy is due at once (one run per event, all queued, a
full batch) get their runs created and scheduled here, as a manual trigger's run is, instead of
on the scheduler's next look: that look is up to ``poll_s`` away, most of a webhook's latency.
Anything this step does not do (a policy waiting for a window, a failure) the scheduler does,
from the same queue, exactly once (``airlock.scheduling.asset_runs``). A run created here
continues the request's trace (its ``traceparent``); one the scheduler creates starts its own.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.db import DagScheduleAsset
from airlock.scheduling import create_asset_triggered_runs, schedule_run
from airlock.web.runs import request_dag_cache

log = logging.getLogger(__name__)


def start_consumer_runs(
    session: Session, asset_id: int, now: dt.datetime, trace_parent: str | None = None
) -> int:
    """Create and schedule the due runs of ``asset_id``'s consumers, in the trace of
    ``trace_parent`` (the request's, see ``caller_traceparent``); how many. Never raises."""
    try:
        consumers = session.scalars(
            select(DagScheduleAsset.dag_id).where(DagScheduleAsset.asset_id == asset_id)
        ).all()
        if not consumers:
            return 0
        cache = request_dag_cache()
        runs = create_asset_triggered_runs(
            session, cache, now, dag_ids=consumers, trace_parent=trace_parent
        )
        for run in runs:
            schedule_run(session, run, cache, now)
        session.commit()
        return len(runs)
    except Exception:
        session.rollback()
        log.warning(
            "could not start the runs of asset %s's consumers; the scheduler will",
            asset_id,
            exc_info=True,
        )
        return 0
