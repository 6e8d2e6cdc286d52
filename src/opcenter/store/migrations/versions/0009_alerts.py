"""alerts: custom alert rules (CreateRemind, ...), what they watch, and the outbox of the alert
messages they raise with one delivery row per receiver and channel

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# A 64-bit id that SQLite still treats as its rowid alias (as store/tables.py `Id`).
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reminds",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("remind_unit", sa.String(length=16), nullable=False),
        sa.Column("remind_type", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("alert_unit", sa.String(length=16), nullable=False),
        sa.Column("alert_targets", sa.Text(), nullable=False),
        sa.Column("alert_methods", sa.Text(), nullable=False),
        sa.Column("robot_urls", sa.Text(), nullable=False),
        sa.Column("webhooks", sa.Text(), nullable=False),
        sa.Column("alert_interval", sa.Integer(), nullable=False),
        sa.Column("max_alert_times", sa.Integer(), nullable=False),
        sa.Column("dnd_end", sa.String(length=5), nullable=True),
        sa.Column("use_flag", sa.Boolean(), nullable=False),
        sa.Column("founder", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("modified_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "name"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_reminds_workspace_id", "reminds", ["workspace_id"])
    op.create_table(
        "remind_targets",
        sa.Column("remind_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["remind_id"], ["reminds.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("remind_id", "kind", "target_id"),
    )
    op.create_index("ix_remind_targets_target", "remind_targets", ["kind", "target_id"])
    op.create_table(
        "alert_messages",
        sa.Column("id", ID, nullable=False),
        sa.Column("workspace_id", ID, nullable=False),
        sa.Column("remind_id", sa.BigInteger(), nullable=True),
        sa.Column("remind_name", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("dag_id", sa.BigInteger(), nullable=True),
        sa.Column("instance_id", sa.BigInteger(), nullable=True),
        sa.Column("node_id", sa.BigInteger(), nullable=True),
        sa.Column("node_name", sa.String(length=256), nullable=False),
        sa.Column("node_owner", sa.String(length=128), nullable=False),
        sa.Column("instance_status", sa.String(length=32), nullable=True),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_alert_messages_workspace_created", "alert_messages", ["workspace_id", "created_at"]
    )
    op.create_index("ix_alert_messages_remind", "alert_messages", ["remind_id"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("receiver", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["alert_messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", "channel", "receiver"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_alert_deliveries_due", "alert_deliveries", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_due", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alert_messages_remind", table_name="alert_messages")
    op.drop_index("ix_alert_messages_workspace_created", table_name="alert_messages")
    op.drop_table("alert_messages")
    op.drop_index("ix_remind_targets_target", table_name="remind_targets")
    op.drop_table("remind_targets")
    op.drop_index("ix_reminds_workspace_id", table_name="reminds")
    op.drop_table("reminds")
