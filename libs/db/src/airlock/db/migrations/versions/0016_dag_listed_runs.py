"""The runs a timetable written in Python listed at the DAG's latest parse, kept on the DAG's row
instead of in its versioned blob, so that listing later runs makes no new DAG version.

Revision ID: 0016
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dag", schema=None) as batch_op:
        batch_op.add_column(sa.Column("listed_runs", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dag", schema=None) as batch_op:
        batch_op.drop_column("listed_runs")
