"""Which assets a newly stored DAG version is scheduled on and which its tasks update.

The server stores DAG blobs without decoding them, with one exception: when a DAG gets a *new*
version, its asset references (the consumers and producers of each asset, DESIGN §6) are read
from the blob here. Only the schedule and the tasks' outlets are decoded — a narrow view of
:class:`~airlock.models.dag.SerializedDag` whose other fields msgspec skips — so this costs one
decompression per new version and nothing for an unchanged upload. Deriving the references on the
server rather than trusting metadata the DAG processor sends keeps them consistent with the blob
the scheduler will run. Assets are global by URI, so a bundle may reference any asset.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import msgspec
from sqlalchemy.orm import Session

from airlock.db.assets import schedule_assets, set_dag_asset_references
from airlock.models.codec import decompress
from airlock.models.dag import AssetLike, AssetRef, NoSchedule, Schedule
from airlock.models.internal import DagUpload


class _TaskOutlets(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    outlets: list[AssetLike] = []


class _AssetView(msgspec.Struct, frozen=True, kw_only=True):
    schedule: Schedule = NoSchedule()
    tasks: list[_TaskOutlets] = []


_DECODER = msgspec.json.Decoder(_AssetView)


def references_of(blob: bytes, size: int) -> tuple[list[AssetRef], dict[str, list[AssetRef]]]:
    """(assets the DAG is scheduled on, task id → assets it has as outlets) of one blob."""
    view = _DECODER.decode(decompress(blob, size))
    outlets = {
        task.task_id: [ref for ref in task.outlets if isinstance(ref, AssetRef)]
        for task in view.tasks
    }
    return schedule_assets(view.schedule), {t: refs for t, refs in outlets.items() if refs}


def record_references(
    session: Session, created: Iterable[DagUpload], sizes: dict[str, int], now: dt.datetime
) -> None:
    """Replace the asset references of the DAGs whose new versions ``created`` holds."""
    references = {
        upload.metadata.dag_id: references_of(upload.blob, sizes[upload.dag_hash])
        for upload in created
    }
    set_dag_asset_references(session, references, now)
