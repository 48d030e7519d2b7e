"""Triggers: the async waits of deferred tasks, leased to triggerers with a fencing epoch.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trigger",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_instance_id", sa.String(length=36), nullable=False),
        sa.Column("classpath", sa.String(length=1000), nullable=False),
        sa.Column("kwargs", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timeout_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("triggerer", sa.String(length=250), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_epoch", sa.Integer(), server_default="0", nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_instance_id"],
            ["task_instance.id"],
            name=op.f("fk_trigger_task_instance_id_task_instance"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger")),
        sa.UniqueConstraint("task_instance_id", name=op.f("uq_trigger_task_instance_id")),
    )
    op.create_index(op.f("ix_trigger_lease_expires_at"), "trigger", ["lease_expires_at"])
    op.create_index(op.f("ix_trigger_timeout_at"), "trigger", ["timeout_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_trigger_timeout_at"), table_name="trigger")
    op.drop_index(op.f("ix_trigger_lease_expires_at"), table_name="trigger")
    op.drop_table("trigger")
