"""guarantees: instance error message and process record, workspace job environment, nonces

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("error_message", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("pgid", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("proc_start", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("proc_boot", sa.String(length=64), nullable=True))
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_env", sa.Text(), nullable=False, server_default="{}"))
    op.create_table(
        "request_nonce",
        sa.Column("access_key_id", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("access_key_id", "nonce"),
    )
    with op.batch_alter_table("request_nonce", schema=None) as batch_op:
        batch_op.create_index("ix_request_nonce_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("request_nonce")
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.drop_column("job_env")
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.drop_column("proc_boot")
        batch_op.drop_column("proc_start")
        batch_op.drop_column("pgid")
        batch_op.drop_column("error_message")
