"""isolation: the OS user (tenant) a workspace's jobs run as per environment, and the paths it
shares with them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tenant_dev", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("tenant_prod", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("shared_paths", sa.Text(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.drop_column("shared_paths")
        batch_op.drop_column("tenant_prod")
        batch_op.drop_column("tenant_dev")
