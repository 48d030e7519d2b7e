"""State reasons: why the control plane changed a task instance's state on its own (a missed
heartbeat, an execution timeout, a person marking or clearing it), on the task instance and on
the try it ended (``airlock.scheduling.reasons``).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("task_instance", "task_instance_history"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("state_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    for table in ("task_instance_history", "task_instance"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("state_reason")
