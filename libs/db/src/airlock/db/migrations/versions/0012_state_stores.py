"""Task and asset state stores: ``task_state`` (per task instance, dies with its run) and
``asset_state`` (per bundle and asset URI, across runs), each value with an optional expiry.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_state",
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id", "run_id"],
            ["dag_run.dag_id", "dag_run.run_id"],
            name="fk_task_state_dag_id_run_id_dag_run",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "dag_id", "run_id", "task_id", "map_index", "key", name="pk_task_state"
        ),
    )
    op.create_table(
        "asset_state",
        sa.Column("bundle_name", sa.String(length=250), nullable=False),
        sa.Column("asset_uri", sa.String(length=1500), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bundle_name", "asset_uri", "key", name="pk_asset_state"),
    )


def downgrade() -> None:
    op.drop_table("asset_state")
    op.drop_table("task_state")
