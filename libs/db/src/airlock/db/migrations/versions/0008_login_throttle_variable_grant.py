"""Failed log-ins counted per user name and client address (``login_failure``), and the grant
that lets tasks of every bundle change a global variable (``variable.task_writable``).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("key", sa.String(length=260), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_failure")),
    )
    op.create_index(
        op.f("ix_login_failure_blocked_until"), "login_failure", ["blocked_until"], unique=False
    )
    with op.batch_alter_table("variable", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("task_writable", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("variable", schema=None) as batch_op:
        batch_op.drop_column("task_writable")
    op.drop_index(op.f("ix_login_failure_blocked_until"), table_name="login_failure")
    op.drop_table("login_failure")
