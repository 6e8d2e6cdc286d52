"""Fixtures for the authoring service tests: a STANDARD and a BASIC workspace with a workflow.

`db` is overridden here for speed with the same guarantee (a fresh, migrated store per test):
SQLite copies a store migrated once per session; PostgreSQL migrates one schema per session and
empties it before each test (commits skip the fsync there: nothing here is about durability).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from opcenter.service import workflows, workspaces
from opcenter.service.context import ServiceContext
from opcenter.service.views import BusinessView, ProjectView
from opcenter.settings import load_settings
from opcenter.store.db import Database
from opcenter.store.tables import full_metadata
from tests.conftest import PG_URL


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "opcenter.db"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    database.dispose()
    return path


def _no_fsync(dbapi_conn: Any, _record: Any) -> None:
    with dbapi_conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
    dbapi_conn.commit()


@pytest.fixture(scope="session")
def pg_database(pg_ready: bool) -> Iterator[Database]:
    if not pg_ready:
        pytest.skip(f"PostgreSQL is unreachable at {PG_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    database = Database(PG_URL, schema=schema)
    event.listen(database.engine, "connect", _no_fsync)
    database.migrate()
    try:
        yield database
    finally:
        database.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    if backend == "sqlite":
        target = tmp_path / "opcenter.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        database = Database(f"sqlite:///{target}")
        yield database
        database.dispose()
        return
    database = request.getfixturevalue("pg_database")
    tables = ", ".join(t.name for t in full_metadata().sorted_tables)
    with database.engine.begin() as conn:  # ids restart at 1, as in a new store
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    yield database


@pytest.fixture
def sqlite_ctx(tmp_path: Path, sqlite_template: Path) -> Iterator[ServiceContext]:
    """SQLite only, for input checks that fail before the store is read."""
    target = tmp_path / "opcenter.db"
    shutil.copyfile(sqlite_template, target)
    settings = load_settings(environ={}, dotenv=None, data_dir=tmp_path / "data", timezone="UTC")
    context = ServiceContext(db=Database(f"sqlite:///{target}"), settings=settings)
    yield context
    context.db.dispose()


@pytest.fixture
def project(ctx: ServiceContext) -> ProjectView:
    return workspaces.create_project(
        ctx, project_identifier="demo", project_name="Demo", project_mode="STANDARD"
    )


@pytest.fixture
def basic_project(ctx: ServiceContext) -> ProjectView:
    return workspaces.create_project(
        ctx, project_identifier="lite", project_name="Lite", project_mode="BASIC"
    )


@pytest.fixture
def flow(ctx: ServiceContext, project: ProjectView) -> BusinessView:
    return workflows.create_business(
        ctx, project_id=project.project_id, business_name="sales", parameters="region=cn"
    )


@pytest.fixture
def basic_flow(ctx: ServiceContext, basic_project: ProjectView) -> BusinessView:
    return workflows.create_business(
        ctx, project_id=basic_project.project_id, business_name="sales"
    )
