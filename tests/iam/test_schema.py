"""Migration 0002 creates exactly the IAM tables that `store/tables.py` declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from opcenter.store.db import Database
from opcenter.store.tables import full_metadata

IAM_TABLES = {
    "iam_account",
    "iam_user",
    "iam_access_key",
    "iam_policy",
    "iam_policy_attachment",
    "workspace_member",
    "workspace_member_role",
    "audit_event",
}


def _table_of(diff: object) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item:  # type: ignore[attr-defined]
        table = getattr(part, "table", None)
        name = getattr(part, "name", None)
        if table is not None and getattr(table, "name", None):
            return table.name
        if isinstance(part, str) and part in IAM_TABLES:
            return part
        if name in IAM_TABLES:
            return name
    return None


def test_migrated_schema_does_match_the_models_given_the_iam_tables(db: Database) -> None:
    with db.engine.connect() as conn:
        if db.schema:
            conn.exec_driver_sql(f"SET search_path TO {db.schema}")
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, full_metadata())
    assert [d for d in diffs if _table_of(d) in IAM_TABLES] == []
    assert set(full_metadata().tables) >= IAM_TABLES
