"""Lease epochs: a counter on each leased row (a task instance's claim, a callback request's
lease) that every acquisition increments, so a late write by a holder whose lease has moved on
is refused (``airlock.scheduling.leases``).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("task_instance", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claim_epoch", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("callback_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lease_epoch", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("callback_request", schema=None) as batch_op:
        batch_op.drop_column("lease_epoch")
    with op.batch_alter_table("task_instance", schema=None) as batch_op:
        batch_op.drop_column("claim_epoch")
