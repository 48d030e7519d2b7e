"""Task and asset state stores (Airflow 3.3's ``task_state_store`` / ``asset_state_store``):
small JSON values a task keeps for its own later tries, or for an asset across runs.

:class:`TaskState` rows belong to one task instance (``dag_id``, ``run_id``, ``task_id``,
``map_index``) and die with its DAG run. :class:`AssetState` rows belong to an asset *as one
bundle sees it*: assets are global by URI, but user code never reads another bundle's data, so
two teams declaring the same URI keep separate stores. A row past ``expires_at`` reads as absent.
Values are the JSON text the SDK sent, stored without decoding.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKeyConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from airlock.db.base import ID_LENGTH, Base, UtcDateTime, utcnow
from airlock.db.models.asset import ASSET_TEXT_LENGTH

#: Longest state-store key.
STATE_KEY_LENGTH = 512


class TaskState(Base):
    __tablename__ = "task_state"
    __table_args__ = (
        ForeignKeyConstraint(
            ["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"
        ),
    )

    dag_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True, default=-1)
    key: Mapped[str] = mapped_column(String(STATE_KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    #: None: never expires.
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class AssetState(Base):
    __tablename__ = "asset_state"

    bundle_name: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    asset_uri: Mapped[str] = mapped_column(String(ASSET_TEXT_LENGTH), primary_key=True)
    key: Mapped[str] = mapped_column(String(STATE_KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
