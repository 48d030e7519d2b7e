"""Assets and asset events (with a per-asset dedup key), the DAGs scheduled on each asset and
the tasks that update it, the queue of events each consumer has not consumed yet, and which
events triggered which run.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "asset",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uri", sa.String(length=1500), nullable=False),
        sa.Column("name", sa.String(length=1500), nullable=False),
        sa.Column("group", sa.String(length=1500), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset")),
        sa.UniqueConstraint("uri", name=op.f("uq_asset_uri")),
    )
    with op.batch_alter_table("asset", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_asset_name"), ["name"], unique=False)

    op.create_table(
        "asset_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=250), nullable=False),
        sa.Column("source_task_instance_id", sa.String(length=36), nullable=True),
        sa.Column("source_dag_id", sa.String(length=250), nullable=True),
        sa.Column("source_run_id", sa.String(length=250), nullable=True),
        sa.Column("source_task_id", sa.String(length=250), nullable=True),
        sa.Column("source_map_index", sa.Integer(), nullable=True),
        sa.Column("dedup_key", sa.String(length=250), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_asset_event_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_event")),
        sa.UniqueConstraint(
            "asset_id", "dedup_key", name=op.f("uq_asset_event_asset_id_dedup_key")
        ),
    )
    with op.batch_alter_table("asset_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_asset_event_asset_id_timestamp"), ["asset_id", "timestamp"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_asset_event_source_dag_id_timestamp"),
            ["source_dag_id", "timestamp"],
            unique=False,
        )

    op.create_table(
        "asset_dag_run_queue",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("target_dag_id", sa.String(length=250), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_asset_dag_run_queue_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["asset_event.id"],
            name=op.f("fk_asset_dag_run_queue_event_id_asset_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_dag_id"],
            ["dag.dag_id"],
            name=op.f("fk_asset_dag_run_queue_target_dag_id_dag"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", "target_dag_id", name=op.f("pk_asset_dag_run_queue")),
    )
    with op.batch_alter_table("asset_dag_run_queue", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_asset_dag_run_queue_target_dag_id"), ["target_dag_id"], unique=False
        )

    op.create_table(
        "dag_schedule_asset",
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_dag_schedule_asset_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dag_id"],
            ["dag.dag_id"],
            name=op.f("fk_dag_schedule_asset_dag_id_dag"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("asset_id", "dag_id", name=op.f("pk_dag_schedule_asset")),
    )
    with op.batch_alter_table("dag_schedule_asset", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dag_schedule_asset_dag_id"), ["dag_id"], unique=False)

    op.create_table(
        "task_outlet_asset",
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_task_outlet_asset_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dag_id"],
            ["dag.dag_id"],
            name=op.f("fk_task_outlet_asset_dag_id_dag"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("asset_id", "dag_id", "task_id", name=op.f("pk_task_outlet_asset")),
    )
    with op.batch_alter_table("task_outlet_asset", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_outlet_asset_dag_id"), ["dag_id"], unique=False)

    op.create_table(
        "dag_run_asset_event",
        sa.Column("dag_run_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_run_id"],
            ["dag_run.id"],
            name=op.f("fk_dag_run_asset_event_dag_run_id_dag_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["asset_event.id"],
            name=op.f("fk_dag_run_asset_event_event_id_asset_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dag_run_id", "event_id", name=op.f("pk_dag_run_asset_event")),
    )
    with op.batch_alter_table("dag_run_asset_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dag_run_asset_event_event_id"), ["event_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dag_run_asset_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dag_run_asset_event_event_id"))

    op.drop_table("dag_run_asset_event")
    with op.batch_alter_table("task_outlet_asset", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_outlet_asset_dag_id"))

    op.drop_table("task_outlet_asset")
    with op.batch_alter_table("dag_schedule_asset", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dag_schedule_asset_dag_id"))

    op.drop_table("dag_schedule_asset")
    with op.batch_alter_table("asset_dag_run_queue", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_dag_run_queue_target_dag_id"))

    op.drop_table("asset_dag_run_queue")
    with op.batch_alter_table("asset_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_event_source_dag_id_timestamp"))
        batch_op.drop_index(batch_op.f("ix_asset_event_asset_id_timestamp"))

    op.drop_table("asset_event")
    with op.batch_alter_table("asset", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_name"))

    op.drop_table("asset")
