"""Event receivers (webhooks mapped to asset events, secrets encrypted) and the signatures of
timestamped deliveries kept for their replay window.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_receiver",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("bundle_name", sa.String(length=250), nullable=True),
        sa.Column("asset_uri", sa.String(length=1500), nullable=False),
        sa.Column("signature", sa.String(length=40), nullable=False),
        sa.Column("signature_header", sa.String(length=200), nullable=False),
        sa.Column("signature_prefix", sa.String(length=100), nullable=False),
        sa.Column("tolerance_s", sa.Integer(), nullable=False),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("dedup_key_path", sa.Text(), nullable=True),
        sa.Column("extra_path", sa.Text(), nullable=True),
        sa.Column("filter_path", sa.Text(), nullable=True),
        sa.Column("max_body_bytes", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=250), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_receiver")),
    )
    with op.batch_alter_table("event_receiver", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_receiver_bundle_name"), ["bundle_name"], unique=False
        )
    op.create_table(
        "receiver_delivery",
        sa.Column("receiver_name", sa.String(length=250), nullable=False),
        sa.Column("signature_sha256", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["receiver_name"],
            ["event_receiver.name"],
            name=op.f("fk_receiver_delivery_receiver_name_event_receiver"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "receiver_name", "signature_sha256", name=op.f("pk_receiver_delivery")
        ),
    )
    with op.batch_alter_table("receiver_delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receiver_delivery_seen_at"), ["seen_at"], unique=False)


def downgrade() -> None:
    op.drop_table("receiver_delivery")
    op.drop_table("event_receiver")
