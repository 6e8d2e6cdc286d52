"""the Operation Center page: sign-in passwords, browser sessions, wrong-password counts, and
instances indexed by Dag and last change (the page's change feed)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_password",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "console_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("principal", sa.String(length=256), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", sa.BigInteger(), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.create_index("ix_console_session_seen_at", ["seen_at"], unique=False)
    op.create_table(
        "login_failure",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.drop_index("ix_instance_dag", table_name="instance")
    op.create_index("ix_instance_dag_modified", "instance", ["dag_id", "modified_at"])


def downgrade() -> None:
    op.drop_index("ix_instance_dag_modified", table_name="instance")
    op.create_index("ix_instance_dag", "instance", ["dag_id"])
    op.drop_table("login_failure")
    with op.batch_alter_table("console_session", schema=None) as batch_op:
        batch_op.drop_index("ix_console_session_seen_at")
    op.drop_table("console_session")
    op.drop_table("login_password")
