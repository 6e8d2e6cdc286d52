"""several API processes: the per-AccessKey flow control kept in the store

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit",
        sa.Column("access_key_id", sa.String(length=64), nullable=False),
        sa.Column("tat", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("access_key_id"),
    )


def downgrade() -> None:
    op.drop_table("rate_limit")
