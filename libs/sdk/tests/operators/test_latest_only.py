"""LatestOnlyOperator follows its downstream only in the latest scheduled run."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from airlock.models.execution import DagRunInfo
from airlock.models.states import DagRunState, DagRunType
from airlock.sdk import DAG, EmptyOperator
from airlock.sdk.operators.latest_only import LatestOnlyOperator


def _run(run_type: DagRunType, run_after: dt.datetime) -> DagRunInfo:
    return DagRunInfo(
        dag_id="latest",
        run_id="r",
        run_type=run_type,
        state=DagRunState.RUNNING,
        run_after=run_after,
        logical_date=run_after,
    )


@pytest.mark.parametrize("schedule", ["@hourly", dt.timedelta(hours=1)])
def test_only_the_latest_scheduled_run_follows(schedule: object) -> None:
    with DAG("latest", schedule=schedule, start_date=pendulum.datetime(2021, 1, 1)):
        latest = LatestOnlyOperator(task_id="latest_only")
        latest >> EmptyOperator(task_id="notify")
    now = pendulum.now("UTC")
    old = now.subtract(days=2).start_of("hour")
    current = now.start_of("hour")
    skipped = latest.execute({"dag_run": _run(DagRunType.SCHEDULED, old)})
    assert skipped.skip_task_ids == ("notify",)
    followed = latest.execute({"dag_run": _run(DagRunType.SCHEDULED, current)})
    assert followed.follow_task_ids == ("notify",)
    assert followed.skip_task_ids == ()
    manual = latest.execute({"dag_run": _run(DagRunType.MANUAL, old)})
    assert manual.skip_task_ids == ()
