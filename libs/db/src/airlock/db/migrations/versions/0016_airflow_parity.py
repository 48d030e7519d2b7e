"""Airflow parity leftovers:

- ``dag.listed_runs``: the runs a timetable written in Python listed at the DAG's latest parse,
  kept on the DAG's row instead of in its versioned blob, so that listing later runs makes no
  new DAG version;
- ``dag_schedule_asset_name``: the DAGs scheduled on assets by name only
  (``Asset.ref(name=...)``), matched against the assets' names when events are queued.

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
    op.create_table(
        "dag_schedule_asset_name",
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("name", sa.String(length=1500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id"],
            ["dag.dag_id"],
            name=op.f("fk_dag_schedule_asset_name_dag_id_dag"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dag_id", "name", name=op.f("pk_dag_schedule_asset_name")),
    )
    with op.batch_alter_table("dag_schedule_asset_name", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dag_schedule_asset_name_name"), ["name"], unique=False
        )


def downgrade() -> None:
    op.drop_table("dag_schedule_asset_name")
    with op.batch_alter_table("dag", schema=None) as batch_op:
        batch_op.drop_column("listed_runs")
