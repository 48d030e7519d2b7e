"""Asset watchers: one row per watcher a stored DAG declares, leased to a triggerer, with the
status its holder reports.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "asset_watcher",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("classpath", sa.String(length=1000), nullable=False),
        sa.Column("kwargs", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("triggerer", sa.String(length=250), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_epoch", sa.Integer(), server_default="0", nullable=False),
        sa.Column("state", sa.String(length=20), nullable=True),
        sa.Column("lag", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("events_stored", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_asset_watcher_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dag_id"],
            ["dag.dag_id"],
            name=op.f("fk_asset_watcher_dag_id_dag"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_watcher")),
        sa.UniqueConstraint(
            "dag_id", "asset_id", "name", name=op.f("uq_asset_watcher_dag_id_asset_id_name")
        ),
    )
    op.create_index(op.f("ix_asset_watcher_asset_id"), "asset_watcher", ["asset_id"])
    op.create_index(
        op.f("ix_asset_watcher_lease_expires_at"), "asset_watcher", ["lease_expires_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_asset_watcher_lease_expires_at"), table_name="asset_watcher")
    op.drop_index(op.f("ix_asset_watcher_asset_id"), table_name="asset_watcher")
    op.drop_table("asset_watcher")
