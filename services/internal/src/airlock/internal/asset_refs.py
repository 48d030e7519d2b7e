"""Which assets a newly stored DAG version is scheduled on and which its tasks update.

When a DAG gets a *new* version, the server decodes it once to check it
(:mod:`airlock.internal.dag_checks`), and its asset references (the consumers and producers of
each asset, DESIGN §6) are read from that decoded DAG here; an unchanged upload costs nothing. Deriving the references on the
server rather than trusting metadata the DAG processor sends keeps them consistent with the blob
the scheduler will run. Assets are global by URI, so a bundle may reference any asset; a DAG
scheduled on ``Asset.ref(name=...)`` references the assets of that name, matched when events
are queued (so an asset first seen after the DAG counts too).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from airlock.db.assets import schedule_asset_names, schedule_assets, set_dag_asset_references
from airlock.models.dag import AssetRef, SerializedDag
from airlock.scheduling.watchers import sync_watchers


def references_of(dag: SerializedDag) -> tuple[list[AssetRef], dict[str, list[AssetRef]]]:
    """(assets the DAG is scheduled on, task id → assets it has as outlets)."""
    outlets = {
        task.task_id: [ref for ref in task.outlets if isinstance(ref, AssetRef)]
        for task in dag.tasks
    }
    return schedule_assets(dag.schedule), {t: refs for t, refs in outlets.items() if refs}


def record_references(
    session: Session, created: dict[str, SerializedDag], now: dt.datetime
) -> None:
    """Replace the asset references and the asset watchers of the DAGs whose new versions
    ``created`` holds, by id."""
    references = {dag_id: references_of(dag) for dag_id, dag in created.items()}
    names = {dag_id: schedule_asset_names(dag.schedule) for dag_id, dag in created.items()}
    set_dag_asset_references(session, references, now, names)
    sync_watchers(session, {dag_id: dag.watchers for dag_id, dag in created.items()}, now)
