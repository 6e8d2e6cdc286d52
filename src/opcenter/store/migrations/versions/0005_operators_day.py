"""an operator's day: one row per instance attempt (InstanceHistoryId), folders, and nodes taken
offline per environment

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "instance_attempt",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("instance_id", _ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("dag_id", _ID, nullable=False),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("env", sa.String(length=8), nullable=False),
        sa.Column("node_id", _ID, nullable=False),
        sa.Column("version_id", _ID, nullable=False),
        sa.Column("task_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False, server_default=""),
        sa.Column("begin_wait_time_time", sa.BigInteger(), nullable=True),
        sa.Column("begin_wait_res_time", sa.BigInteger(), nullable=True),
        sa.Column("begin_running_time", sa.BigInteger(), nullable=True),
        sa.Column("finish_time", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("modified_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"]),
        sa.ForeignKeyConstraint(["version_id"], ["file_version.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance_id", "attempt"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "folder",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("modified_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "path"),
    )
    with op.batch_alter_table("folder", schema=None) as batch_op:
        batch_op.create_index("ix_folder_workspace_id", ["workspace_id"], unique=False)
    with op.batch_alter_table("node_release", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offline_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("node_release", schema=None) as batch_op:
        batch_op.drop_column("offline_at")
    op.drop_table("folder")
    op.drop_table("instance_attempt")
