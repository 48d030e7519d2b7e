from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from airlock.db import Base, DagRun, TaskInstance, TaskInstanceHistory, XCom

POSTGRES_MAX_IDENTIFIER = 63


def test_table_list():
    assert sorted(Base.metadata.tables) == [
        "api_token",
        "asset",
        "asset_dag_run_queue",
        "asset_event",
        "asset_state",
        "asset_watcher",
        "bundle",
        "bundle_file",
        "callback_request",
        "component_heartbeat",
        "connection",
        "dag",
        "dag_run",
        "dag_run_asset_event",
        "dag_run_deadline",
        "dag_schedule_asset",
        "dag_schedule_asset_name",
        "dag_source",
        "dag_version",
        "event_receiver",
        "import_error",
        "log_chunk",
        "login_failure",
        "pool",
        "receiver_delivery",
        "revoked_token",
        "task_instance",
        "task_instance_history",
        "task_outlet_asset",
        "task_state",
        "trigger",
        "user_account",
        "variable",
        "worker",
        "xcom",
    ]


def test_constraint_names_fit_postgres_identifiers():
    names = [
        str(item.name)
        for table in Base.metadata.tables.values()
        for item in [*table.constraints, *table.indexes]
    ]
    assert all(names), "every constraint and index is named by the naming convention"
    assert [name for name in names if len(name) > POSTGRES_MAX_IDENTIFIER] == []


def test_task_instances_get_uuid7_ids_and_defaults(
    session: Session, make_dag_run: Callable[..., DagRun]
):
    run = make_dag_run()
    ti = TaskInstance(
        dag_id=run.dag_id, run_id=run.run_id, task_id="t", dag_version_id=run.dag_version_id
    )
    session.add(ti)
    session.commit()
    assert uuid.UUID(ti.id).version == 7
    assert (ti.map_index, ti.try_number, ti.pool, ti.queue, ti.state) == (
        -1,
        0,
        "default_pool",
        "default",
        None,
    )


def test_deleting_a_run_deletes_its_task_instances_history_and_xcoms(
    session: Session, make_dag_run: Callable[..., DagRun]
):
    run = make_dag_run()
    other = make_dag_run(run_id="manual__2")
    for dag_run in (run, other):
        ti = TaskInstance(
            dag_id=dag_run.dag_id,
            run_id=dag_run.run_id,
            task_id="t",
            dag_version_id=dag_run.dag_version_id,
        )
        session.add(ti)
        session.flush()
        session.add(TaskInstanceHistory(task_instance_id=ti.id, try_number=1))
        session.add(
            XCom(
                dag_id=dag_run.dag_id,
                run_id=dag_run.run_id,
                task_id="t",
                key="return_value",
                value="42",
            )
        )
    session.commit()

    session.delete(run)
    session.commit()

    def count(model: type[Base]) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    assert (count(TaskInstance), count(TaskInstanceHistory), count(XCom)) == (1, 1, 1)
