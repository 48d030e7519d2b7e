from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from airlock.db import DagRun, TaskInstance, transition
from airlock.models.states import DagRunState, TaskInstanceState


def add_task(session: Session, run: DagRun, state: TaskInstanceState | None) -> TaskInstance:
    ti = TaskInstance(
        dag_id=run.dag_id,
        run_id=run.run_id,
        task_id="extract",
        dag_version_id=run.dag_version_id,
        state=state,
    )
    session.add(ti)
    session.commit()
    return ti


def test_a_repeated_transition_moves_the_row_once(
    session: Session, make_dag_run: Callable[..., DagRun]
):
    ti = add_task(session, make_dag_run(), TaskInstanceState.SCHEDULED)
    first_queued_at = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

    def queue(queued_at: dt.datetime) -> bool:
        return transition(
            session,
            TaskInstance,
            {"id": ti.id},
            TaskInstanceState.SCHEDULED,
            {"state": TaskInstanceState.QUEUED, "queued_at": queued_at},
        )

    assert queue(first_queued_at) is True
    session.commit()
    assert queue(first_queued_at + dt.timedelta(hours=1)) is False
    session.commit()

    session.expunge_all()
    stored = session.get(TaskInstance, ti.id)
    assert stored is not None
    assert (stored.state, stored.queued_at) == (TaskInstanceState.QUEUED, first_queued_at)


def test_expected_states_may_be_several_or_none(
    session: Session, make_dag_run: Callable[..., DagRun]
):
    run = make_dag_run()
    ti = add_task(session, run, None)
    assert transition(
        session, TaskInstance, {"id": ti.id}, None, {"state": TaskInstanceState.SCHEDULED}
    )
    assert transition(
        session,
        TaskInstance,
        {"id": ti.id},
        [TaskInstanceState.SCHEDULED, TaskInstanceState.UP_FOR_RETRY],
        {"state": TaskInstanceState.QUEUED},
    )
    assert not transition(
        session,
        TaskInstance,
        {"id": ti.id},
        [None, TaskInstanceState.SCHEDULED],
        {"state": TaskInstanceState.RUNNING},
    )
    assert transition(
        session,
        DagRun,
        {"dag_id": run.dag_id, "run_id": run.run_id},
        DagRunState.QUEUED,
        {"state": DagRunState.RUNNING},
    )
    session.commit()
    session.expunge_all()
    stored_ti = session.get(TaskInstance, ti.id)
    stored_run = session.get(DagRun, run.id)
    assert stored_ti is not None
    assert stored_run is not None
    assert (stored_ti.state, stored_run.state) == (TaskInstanceState.QUEUED, DagRunState.RUNNING)


def test_transition_refuses_to_update_every_row(session: Session):
    with pytest.raises(ValueError, match="non-empty `where`"):
        transition(
            session,
            TaskInstance,
            {},
            TaskInstanceState.SCHEDULED,
            {"state": TaskInstanceState.QUEUED},
        )
    with pytest.raises(ValueError, match="at least one expected state"):
        transition(session, TaskInstance, {"id": "x"}, [], {"state": TaskInstanceState.QUEUED})
