"""The initial schema: bundles, DAGs and their versions, runs, task instances, XComs,
variables, connections, pools, users and revoked tokens; creates ``default_pool``.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bundle",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_parsed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_bundle"),
    )

    op.create_table(
        "connection",
        sa.Column("conn_id", sa.String(length=250), nullable=False),
        sa.Column("conn_type", sa.String(length=500), nullable=False),
        sa.Column("host", sa.String(length=500), nullable=True),
        sa.Column("schema", sa.String(length=500), nullable=True),
        sa.Column("login", sa.String(length=500), nullable=True),
        sa.Column("password_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("extra_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("bundle_name", sa.String(length=250), nullable=True),
        sa.PrimaryKeyConstraint("conn_id", name="pk_connection"),
    )
    op.create_index("ix_connection_bundle_name", "connection", ["bundle_name"])

    op.create_table(
        "dag_source",
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("content_hash", name="pk_dag_source"),
    )

    op.create_table(
        "pool",
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("include_deferred", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_pool"),
    )
    op.bulk_insert(
        sa.table(
            "pool",
            sa.column("name", sa.String),
            sa.column("slots", sa.Integer),
            sa.column("description", sa.Text),
            sa.column("include_deferred", sa.Boolean),
        ),
        [
            {
                "name": "default_pool",
                "slots": 128,
                "description": "Default pool",
                "include_deferred": False,
            }
        ],
    )

    op.create_table(
        "revoked_token",
        sa.Column("jti", sa.String(length=250), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name="pk_revoked_token"),
    )
    op.create_index("ix_revoked_token_expires_at", "revoked_token", ["expires_at"])

    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=250), nullable=False),
        sa.Column("password_hash", sa.String(length=500), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("bundles", sa.JSON(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_user_account"),
        sa.UniqueConstraint("username", name="uq_user_account_username"),
    )

    op.create_table(
        "variable",
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("bundle_name", sa.String(length=250), nullable=True),
        sa.Column("is_encrypted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_variable"),
    )
    op.create_index("ix_variable_bundle_name", "variable", ["bundle_name"])

    op.create_table(
        "bundle_file",
        sa.Column("bundle_name", sa.String(length=250), nullable=False),
        sa.Column("relative_path", sa.String(length=1024), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("last_parsed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dag_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bundle_name"],
            ["bundle.name"],
            name="fk_bundle_file_bundle_name_bundle",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bundle_name", "relative_path", name="pk_bundle_file"),
    )

    op.create_table(
        "dag",
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("bundle_name", sa.String(length=250), nullable=False),
        sa.Column("fileloc", sa.Text(), nullable=False),
        sa.Column("relative_fileloc", sa.Text(), nullable=False),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("is_stale", sa.Boolean(), nullable=False),
        sa.Column("has_import_errors", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owners", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("schedule", sa.Text(), nullable=True),
        sa.Column("timetable_summary", sa.Text(), nullable=True),
        sa.Column("max_active_runs", sa.Integer(), nullable=False),
        sa.Column("max_active_tasks", sa.Integer(), nullable=False),
        sa.Column("catchup", sa.Boolean(), nullable=False),
        sa.Column("next_dagrun", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_dagrun_data_interval_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_dagrun_data_interval_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_dagrun_create_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_parsed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dag_display_name", sa.String(length=2000), nullable=True),
        sa.Column("latest_version_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["bundle_name"], ["bundle.name"], name="fk_dag_bundle_name_bundle"),
        sa.PrimaryKeyConstraint("dag_id", name="pk_dag"),
    )
    op.create_index("ix_dag_bundle_name", "dag", ["bundle_name"])
    op.create_index(
        "ix_dag_is_paused_is_stale_next_dagrun_create_after",
        "dag",
        ["is_paused", "is_stale", "next_dagrun_create_after"],
    )

    op.create_table(
        "import_error",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("bundle_name", sa.String(length=250), nullable=False),
        sa.Column("filename", sa.String(length=1024), nullable=False),
        sa.Column("stacktrace", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bundle_name"],
            ["bundle.name"],
            name="fk_import_error_bundle_name_bundle",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_import_error"),
        sa.UniqueConstraint("bundle_name", "filename", name="uq_import_error_bundle_name_filename"),
    )

    op.create_table(
        "dag_version",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("blob_size", sa.Integer(), nullable=False),
        sa.Column("decompressed_size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bundle_name", sa.String(length=250), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["dag_id"], ["dag.dag_id"], name="fk_dag_version_dag_id_dag", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["source_hash"],
            ["dag_source.content_hash"],
            name="fk_dag_version_source_hash_dag_source",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dag_version"),
        sa.UniqueConstraint("dag_id", "content_hash", name="uq_dag_version_dag_id_content_hash"),
        sa.UniqueConstraint(
            "dag_id", "version_number", name="uq_dag_version_dag_id_version_number"
        ),
    )
    # dag and dag_version reference each other: dag's key to its latest version comes last
    # (on SQLite, batch mode rebuilds the still-empty dag table to add it).
    with op.batch_alter_table("dag") as batch_op:
        batch_op.create_foreign_key(
            "fk_dag_latest_version_id_dag_version",
            "dag_version",
            ["latest_version_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "dag_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("dag_version_id", sa.Integer(), nullable=False),
        sa.Column("logical_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_interval_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_interval_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_type", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("start_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_scheduling_decision", sa.DateTime(timezone=True), nullable=True),
        sa.Column("conf", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("triggered_by", sa.String(length=250), nullable=True),
        sa.ForeignKeyConstraint(
            ["dag_id"], ["dag.dag_id"], name="fk_dag_run_dag_id_dag", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dag_version_id"], ["dag_version.id"], name="fk_dag_run_dag_version_id_dag_version"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dag_run"),
        sa.UniqueConstraint("dag_id", "run_id", name="uq_dag_run_dag_id_run_id"),
    )
    op.create_index("ix_dag_run_dag_id_run_after", "dag_run", ["dag_id", "run_after"])
    op.create_index("ix_dag_run_dag_id_state", "dag_run", ["dag_id", "state"])
    op.create_index("ix_dag_run_state", "dag_run", ["state"])

    op.create_table(
        "task_instance",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("max_tries", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=True),
        sa.Column("pool", sa.String(length=250), nullable=False),
        sa.Column("pool_slots", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=250), nullable=False),
        sa.Column("priority_weight", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(length=1000), nullable=True),
        sa.Column("dag_version_id", sa.Integer(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("start_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("hostname", sa.String(length=1000), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_method", sa.String(length=1000), nullable=True),
        sa.Column("next_kwargs", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dag_id", "run_id"],
            ["dag_run.dag_id", "dag_run.run_id"],
            name="fk_task_instance_dag_id_run_id_dag_run",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dag_version_id"],
            ["dag_version.id"],
            name="fk_task_instance_dag_version_id_dag_version",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_task_instance"),
        sa.UniqueConstraint(
            "dag_id",
            "run_id",
            "task_id",
            "map_index",
            name="uq_task_instance_dag_id_run_id_task_id_map_index",
        ),
    )
    op.create_index("ix_task_instance_pool_state", "task_instance", ["pool", "state"])
    op.create_index(
        "ix_task_instance_state_last_heartbeat_at", "task_instance", ["state", "last_heartbeat_at"]
    )
    op.create_index(
        "ix_task_instance_state_queue_priority_weight",
        "task_instance",
        ["state", "queue", "priority_weight"],
    )

    op.create_table(
        "xcom",
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id", "run_id"],
            ["dag_run.dag_id", "dag_run.run_id"],
            name="fk_xcom_dag_id_run_id_dag_run",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dag_id", "run_id", "task_id", "map_index", "key", name="pk_xcom"),
    )

    op.create_table(
        "task_instance_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_instance_id", sa.String(length=36), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=True),
        sa.Column("dag_version_id", sa.Integer(), nullable=True),
        sa.Column("start_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("hostname", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["dag_version_id"],
            ["dag_version.id"],
            name="fk_task_instance_history_dag_version_id_dag_version",
        ),
        sa.ForeignKeyConstraint(
            ["task_instance_id"],
            ["task_instance.id"],
            name="fk_task_instance_history_task_instance_id_task_instance",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_task_instance_history"),
        sa.UniqueConstraint(
            "task_instance_id",
            "try_number",
            name="uq_task_instance_history_task_instance_id_try_number",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("dag") as batch_op:
        batch_op.drop_constraint("fk_dag_latest_version_id_dag_version", type_="foreignkey")
    op.drop_table("task_instance_history")
    op.drop_table("xcom")
    op.drop_table("task_instance")
    op.drop_table("dag_run")
    op.drop_table("dag_version")
    op.drop_table("import_error")
    op.drop_table("dag")
    op.drop_table("bundle_file")
    op.drop_table("variable")
    op.drop_table("user_account")
    op.drop_table("revoked_token")
    op.drop_table("pool")
    op.drop_table("dag_source")
    op.drop_table("connection")
    op.drop_table("bundle")
