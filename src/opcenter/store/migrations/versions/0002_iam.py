"""identity and access: account, RAM users, AccessKeys, policies, workspace members, audit

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "iam_account",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_table(
        "iam_user",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uid"),
        sa.UniqueConstraint("name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "iam_access_key",
        sa.Column("access_key_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", _ID, nullable=True),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("modified_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["iam_user.id"]),
        sa.PrimaryKeyConstraint("access_key_id"),
    )
    with op.batch_alter_table("iam_access_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_iam_access_key_user_id"), ["user_id"], unique=False)

    op.create_table(
        "iam_policy",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("modified_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "iam_policy_attachment",
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("policy_name", sa.String(length=128), nullable=False),
        sa.Column("policy_type", sa.String(length=16), nullable=False),
        sa.Column("attached_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["iam_user.id"]),
        sa.PrimaryKeyConstraint("user_id", "policy_name"),
    )
    op.create_table(
        "workspace_member",
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("user_uid", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("workspace_id", "user_uid"),
    )
    with op.batch_alter_table("workspace_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workspace_member_user_uid"), ["user_uid"], unique=False
        )

    op.create_table(
        "workspace_member_role",
        sa.Column("workspace_id", _ID, nullable=False),
        sa.Column("user_uid", sa.String(length=32), nullable=False),
        sa.Column("role_code", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("workspace_id", "user_uid", "role_code"),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.String(length=256), nullable=False),
        sa.Column("access_key_id", sa.String(length=64), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=128), nullable=False),
        sa.Column("resource", sa.String(length=512), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_event_principal", ["principal"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_principal")
        batch_op.drop_index("ix_audit_event_at")
    op.drop_table("audit_event")
    op.drop_table("workspace_member_role")
    with op.batch_alter_table("workspace_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workspace_member_user_uid"))
    op.drop_table("workspace_member")
    op.drop_table("iam_policy_attachment")
    op.drop_table("iam_policy")
    with op.batch_alter_table("iam_access_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_iam_access_key_user_id"))
    op.drop_table("iam_access_key")
    op.drop_table("iam_user")
    op.drop_table("iam_account")
