from __future__ import annotations

import sqlalchemy as sa

from opcenter.store.db import Database
from opcenter.store.tables import Workspace


def _add_workspace(db: Database, identifier: str) -> int:
    with db.transaction() as s:
        ws = Workspace(
            identifier=identifier,
            display_name=identifier,
            mode="STANDARD",
            created_at=1,
            modified_at=1,
        )
        s.add(ws)
        s.flush()
        return ws.id


def test_migrate_is_idempotent_given_a_migrated_store(db: Database) -> None:
    db.migrate()
    with db.transaction() as s:
        assert s.scalar(sa.text("SELECT version_num FROM alembic_version")) is not None


def test_transaction_rolls_back_given_an_exception(db: Database) -> None:
    try:
        with db.transaction() as s:
            s.add(
                Workspace(
                    identifier="w", display_name="w", mode="BASIC", created_at=1, modified_at=1
                )
            )
            s.flush()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with db.transaction() as s:
        assert s.scalars(sa.select(Workspace)).all() == []


def test_ids_are_never_reused_given_a_deleted_row(db: Database) -> None:
    first = _add_workspace(db, "a")
    with db.transaction() as s:
        s.execute(sa.delete(Workspace).where(Workspace.id == first))
    second = _add_workspace(db, "b")
    assert second > first > 0


def test_sqlite_store_runs_in_wal_mode_given_the_default_backend(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    db.migrate()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_schema_head_names_the_newest_migration_given_the_migration_scripts() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from opcenter.store import db as store_db

    config = Config()
    config.set_main_option("script_location", str(store_db._MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [store_db.SCHEMA_HEAD]


def test_migrate_brings_an_empty_store_to_the_head_given_a_new_file(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'new.db'}")
    assert db.schema_revision() is None
    db.migrate()
    assert db.schema_revision() == "0003"
