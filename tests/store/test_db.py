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
    assert db.schema_revision() == "0010"


def _upgrade_to(db: Database, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from opcenter.store import db as store_db

    config = Config()
    config.set_main_option("script_location", str(store_db._MIGRATIONS))
    with db.engine.connect() as conn:
        config.attributes["connection"] = conn
        config.attributes["schema"] = db.schema
        command.upgrade(config, revision)
        conn.commit()


def test_migration_0004_gives_existing_workspaces_no_tenant_and_no_shared_path(
    backend: str, tmp_path, request
) -> None:
    from tests.conftest import PG_URL

    if backend == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    else:
        db = Database(PG_URL, schema=request.getfixturevalue("pg_schema"))
    try:
        _upgrade_to(db, "0003")
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO workspace (identifier, display_name, description, mode, status, "
                "owner, job_env, created_at, modified_at) "
                "VALUES ('old', 'old', '', 'STANDARD', 'AVAILABLE', 'me', '{}', 1, 1)"
            )
        db.migrate()
        with db.transaction(readonly=True) as s:
            ws = s.scalars(sa.select(Workspace)).one()
            assert (ws.tenant_dev, ws.tenant_prod, ws.shared_paths) == (None, None, "[]")
    finally:
        db.dispose()


def test_migrated_workspace_table_does_match_the_model_given_migration_0004(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from opcenter.store.tables import full_metadata

    with db.engine.connect() as conn:
        if db.schema:
            conn.exec_driver_sql(f"SET search_path TO {db.schema}")
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, full_metadata())
    assert [d for d in diffs if "workspace" in repr(d) and "member" not in repr(d)] == []


def test_migrated_schema_does_match_the_models_given_every_migration(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from opcenter.store.tables import full_metadata

    with db.engine.connect() as conn:
        if db.schema:
            conn.exec_driver_sql(f"SET search_path TO {db.schema}")
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, full_metadata())
    assert diffs == []


def test_the_tables_mapped_on_first_use_are_the_ones_side_tables_defines() -> None:
    # store/tables.py names them to load them lazily; a table added to one list only would
    # either never load or load at start-up
    from opcenter.store import side_tables, tables

    assert set(side_tables.__all__) == tables._SIDE_TABLES
