"""alert events: every event a rule saw (one row each, whether it raised a message or was
counted into the next one), for exactly-once events and the per-run alert budget

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_events",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("remind_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("dag_id", sa.BigInteger(), nullable=True),
        sa.Column("instance_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_alert_events_budget", "alert_events", ["remind_id", "run_id"])
    op.create_index("ix_alert_events_created", "alert_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_events_created", table_name="alert_events")
    op.drop_index("ix_alert_events_budget", table_name="alert_events")
    op.drop_table("alert_events")
