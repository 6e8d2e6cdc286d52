"""Shared fixtures: real stores on SQLite and PostgreSQL, isolated per test.

PostgreSQL runs at 127.0.0.1:5432 on every machine of this project. When it is unreachable the
PostgreSQL half of a backend-parametrised test is skipped locally, and fails under CI=true.
"""

from __future__ import annotations

import os
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from opcenter.engine.scheduler import Engine
from opcenter.runners.local import LocalExecutor
from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from opcenter.store import tables
from opcenter.store.db import Database


def _open_to_tenants(mktemp: Any) -> Any:
    """As root, jobs run as unprivileged tenant users (runners/sandbox.py), who must pass
    through the folders on the way to a data directory, as they pass through /var/lib in a real
    installation; pytest makes its temporary folders 0700. Folders the tests make are opened for
    passing through (o+x), never for listing or reading."""

    def opened(self: pytest.TempPathFactory, basename: str, numbered: bool = True) -> Path:
        path = mktemp(self, basename, numbered)
        for folder in (path, *path.parents):
            if folder == Path(tempfile.gettempdir()) or folder == folder.parent:
                break
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:
                folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
        return path

    return opened


if os.geteuid() == 0:
    pytest.TempPathFactory.mktemp = _open_to_tenants(pytest.TempPathFactory.mktemp)  # type: ignore[method-assign]

ENGINE_POLL_SECONDS = 0.05

PG_URL = os.environ.get("OPCENTER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _pg_available() -> bool:
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except sa.exc.OperationalError:
        return False


def _pg_required() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true")


@pytest.fixture(scope="session")
def pg_ready() -> bool:
    ok = _pg_available()
    if not ok and _pg_required():
        pytest.fail(f"PostgreSQL is unreachable at {PG_URL} (required under CI=true)")
    return ok


@contextmanager
def fresh_pg_schema(pg_ready: bool) -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards: two runs never collide. Skips (fails under
    CI=true, through `pg_ready`) when PostgreSQL is unreachable. Usable from a fixture of any
    scope, e.g. a module-scoped live server."""
    if not pg_ready:
        pytest.skip(f"PostgreSQL is unreachable at {PG_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def pg_schema(pg_ready: bool) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test."""
    with fresh_pg_schema(pg_ready) as schema:
        yield schema


def database_on(backend: str, sqlite_file: Path, schema: str | None = None) -> Database:
    """A migrated store: SQLite in `sqlite_file`, or PostgreSQL in `schema`."""
    db = (
        Database(f"sqlite:///{sqlite_file}")
        if backend == "sqlite"
        else Database(PG_URL, schema=schema)
    )
    db.migrate()
    return db


def store_url(db: Database) -> str:
    """A URL reaching `db`'s store, schema included, for another process (OPCENTER_DATABASE_URL)."""
    return f"{db.url}?options=-csearch_path%3D{db.schema}" if db.schema else db.url


def stored_bytes(db: Database) -> bytes:
    """What the store keeps at rest, for secrets-at-rest checks: every row of every table as
    text, and on SQLite the store's files too (the WAL and freed pages may keep what the rows
    no longer hold)."""
    with db.engine.connect() as conn:
        rows = b"".join(
            repr(row).encode()
            for table in tables.full_metadata().sorted_tables
            for row in conn.execute(sa.select(table))
        )
    if not db.is_sqlite:
        return rows
    path = Path(str(db.engine.url.database))
    files = sorted(path.parent.glob(f"{path.name}*"))
    assert path in files, f"no SQLite file at {path}"
    return rows + b"".join(p.read_bytes() for p in files)


def second_context(ctx: ServiceContext) -> ServiceContext:
    """Another connection pool to `ctx`'s store, as a second process has (dispose its db)."""
    return ServiceContext(db=Database(ctx.db.url, schema=ctx.db.schema), settings=ctx.settings)


def make_database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Database:
    schema = request.getfixturevalue("pg_schema") if backend == "postgresql" else None
    return database_on(backend, tmp_path / "opcenter.db", schema)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    database = make_database(backend, tmp_path, request)
    yield database
    database.dispose()


@pytest.fixture
def ctx(db: Database, tmp_path: Path) -> ServiceContext:
    """A service context on a fresh store of each backend, data directory in tmp_path."""
    settings = load_settings(environ={}, dotenv=None, data_dir=tmp_path / "data", timezone="UTC")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return ServiceContext(db=db, settings=settings)


@pytest.fixture
def sqlite_ctx(tmp_path: Path) -> Iterator[ServiceContext]:
    """A service context on SQLite only, for tests that are not about the store."""
    settings = load_settings(environ={}, dotenv=None, data_dir=tmp_path / "data", timezone="UTC")
    context = ServiceContext.open(settings)
    yield context
    context.db.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def module_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A migrated store living for a whole test module (a live server's), on each backend:
    the module's tests run once on SQLite, then once on PostgreSQL in a fresh schema."""
    if request.param == "sqlite":
        database = database_on("sqlite", tmp_path_factory.mktemp("store") / "opcenter.db")
        yield database
        database.dispose()
        return
    with fresh_pg_schema(request.getfixturevalue("pg_ready")) as schema:
        database = database_on("postgresql", Path(), schema)
        yield database
        database.dispose()


@pytest.fixture
def start_engine() -> Iterator[Callable[..., Engine]]:
    started: list[Engine] = []

    def start(
        ctx: ServiceContext,
        slots: int = 2,
        *,
        executor: LocalExecutor | None = None,
        poll_seconds: float = ENGINE_POLL_SECONDS,
        **kw: object,
    ) -> Engine:
        engine = Engine(
            ctx,
            executor or LocalExecutor(slots, stop_grace_seconds=0.5),
            poll_seconds=poll_seconds,
            **kw,  # type: ignore[arg-type]
        )
        engine.start()
        started.append(engine)
        return engine

    yield start
    for engine in started:
        engine.stop()
