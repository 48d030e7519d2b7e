"""Callback outcomes and deadline alerts. Callback outcomes: what the callback processor reports of each callback request (its state,
last error and log, when its next attempt may start, when it was first dispatched), and how
many attempts it gets before it is dead-lettered. Deadline alerts: one row per run and alert,
pending until the run ends or the deadline passes.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dag_run_deadline",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("alert_index", sa.Integer(), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dag_run_deadline")),
    )
    with op.batch_alter_table("dag_run_deadline", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dag_run_deadline_state_deadline_at"), ["state", "deadline_at"]
        )
        batch_op.create_index(batch_op.f("ix_dag_run_deadline_dag_id_run_id"), ["dag_id", "run_id"])
    with op.batch_alter_table("callback_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("state", sa.String(20), server_default="queued", nullable=False)
        )
        batch_op.add_column(
            sa.Column("max_attempts", sa.Integer(), server_default="3", nullable=False)
        )
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("log", sa.Text(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_callback_request_dag_id_run_id"), ["dag_id", "run_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_callback_request_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dag_run_deadline", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dag_run_deadline_dag_id_run_id"))
        batch_op.drop_index(batch_op.f("ix_dag_run_deadline_state_deadline_at"))
    op.drop_table("dag_run_deadline")
    with op.batch_alter_table("callback_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callback_request_state"))
        batch_op.drop_index(batch_op.f("ix_callback_request_dag_id_run_id"))
        for column in (
            "log",
            "last_error",
            "first_started_at",
            "next_attempt_at",
            "max_attempts",
            "state",
        ):
            batch_op.drop_column(column)
