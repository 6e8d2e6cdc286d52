"""The database: one engine per process, one transaction per unit of work, schema by migration.

SQLite (the embedded default) runs in WAL mode with a busy timeout. Write transactions start with
`BEGIN IMMEDIATE` so two writers never deadlock on a lock upgrade, and within one process they queue
on a Python lock first: SQLite has one writer at a time anyway, and its busy handler sleeps in steps
of up to 100 ms where a lock wakes the next writer at once (fair, and no long tail under load).
Read-only transactions (`transaction(readonly=True)`) start with a plain `BEGIN` and take no lock:
in WAL mode they read a snapshot while a writer works. PostgreSQL works through a
`postgresql+psycopg://` URL with the same schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from threading import RLock
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from opcenter.errors import InternalError, OpcenterError

__all__ = ["SCHEMA_HEAD", "Database", "StoreUnavailable", "request_savepoint"]

SQLITE_BUSY_TIMEOUT_MS = 30_000
_MIGRATIONS = Path(__file__).with_name("migrations")
_READONLY = "opcenter_readonly"
# The newest migration; `migrate` is a no-op (and imports no Alembic) when the store is there.
# tests/store/test_db.py checks it against the migration scripts.
SCHEMA_HEAD = "0010"
# The PostgreSQL advisory lock serialising set-up between processes (any store of the server:
# set-up is short and rare, so stores in other schemas waiting on it costs nothing).
_SETUP_LOCK_KEY = 0x6F7063656E746572  # "opcenter"
# The request transaction (`Database.request_transaction`) of the current thread, if any.
_REQUEST: ContextVar[tuple[Database, Session, list[Callable[[], None]]] | None] = ContextVar(
    "opcenter_request", default=None
)


class StoreUnavailable(InternalError):
    """Raised when the database cannot be reached or opened."""


def _sqlite_engine(url: str) -> Engine:
    path = make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=8,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE below is honoured.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get(_READONLY, False)
        # Straight to the driver: every transaction passes here, and the statement needs none
        # of SQLAlchemy's execution machinery (no parameters, no result).
        conn.connection.dbapi_connection.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def _driver_savepoints(engine: Engine) -> None:
    """SAVEPOINT and RELEASE SAVEPOINT straight through the driver's cursor, as BEGIN above:
    every writing API request runs its handler under one (`request_savepoint`), and Core's
    execution path for the statement cost several times what the database spends on it. The
    SQL, the names and SQLAlchemy's bookkeeping of the nested transaction are unchanged;
    driver errors are raised as `DBAPIError` subclasses, as `Connection.execute` would."""
    dialect = engine.dialect
    quote = dialect.identifier_preparer.quote

    def run(conn: Any, sql: str) -> None:
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(sql)
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                sql, (), exc, dialect.loaded_dbapi.Error, dialect=dialect
            ) from exc
        finally:
            cursor.close()

    def savepoint(conn: Any, name: str) -> None:
        run(conn, f"SAVEPOINT {quote(name)}")

    def release(conn: Any, name: str) -> None:
        run(conn, f"RELEASE SAVEPOINT {quote(name)}")

    dialect.do_savepoint = savepoint  # type: ignore[method-assign]
    dialect.do_release_savepoint = release  # type: ignore[method-assign]


@contextmanager
def _translated() -> Iterator[None]:
    """Driver errors become ours: `StoreUnavailable`, or `InternalError` naming the kind."""
    try:
        yield
    except OpcenterError:
        raise
    except OperationalError as exc:
        raise StoreUnavailable(f"The store is unavailable: {exc.orig}") from exc
    except SQLAlchemyError as exc:
        raise InternalError(f"The store failed: {type(exc).__name__}") from exc


class Database:
    """Owns the engine and hands out transactions. Create one per process."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = _sqlite_engine(url)
        else:
            from opcenter.store.tables import use_postgresql_options

            use_postgresql_options()  # the models' PostgreSQL-only index options
            connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
            self.engine = create_engine(
                url, pool_size=10, max_overflow=20, pool_pre_ping=True, connect_args=connect_args
            )
        _driver_savepoints(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{_READONLY: True}), expire_on_commit=False
        )
        # Reentrant: a thread already inside a write transaction must not wait for itself.
        self._write_lock = RLock() if self.is_sqlite else None

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any exception, always release.

        `readonly=True` promises no writes (on SQLite a write in it may fail with a busy error).
        Our own errors pass through unchanged; driver errors become `StoreUnavailable`.
        Inside `request_transaction()` of the same thread, this joins that transaction instead
        (no commit of its own: the request's commits or rolls back everything at once).
        """
        joined = _REQUEST.get()
        if joined is not None and joined[0] is self:
            with _translated():
                yield joined[1]
            return
        if readonly or self._write_lock is None:
            with self._unit_of_work(self._read_sessions if readonly else self._sessions) as s:
                yield s
            return
        with self._write_lock, self._unit_of_work(self._sessions) as session:
            yield session

    @contextmanager
    def request_transaction(self) -> Iterator[Session]:
        """One write transaction for a whole API request: every `transaction()` opened by this
        thread (context) inside the block joins it, so the nonce, the key lookup, the
        authorization reads, the audit row and the operation's own writes commit together
        (one BEGIN/COMMIT, one turn of the writer lock, instead of one per step). Whoever uses
        it decides what may run inside: nothing that acts on the world before its commit.
        What `after_commit` was given inside runs once the commit succeeded."""
        later: list[Callable[[], None]] = []
        with self.transaction() as session:
            token = _REQUEST.set((self, session, later))
            try:
                yield session
            finally:
                _REQUEST.reset(token)
        for action in later:
            action()

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once what this thread wrote is committed: now, or, inside
        `request_transaction()`, after its commit (never if it rolls back). For telling the
        engine about new work: told before the commit, it would look and find nothing."""
        joined = _REQUEST.get()
        if joined is not None and joined[0] is self:
            joined[2].append(action)
        else:
            action()

    @contextmanager
    def _unit_of_work(self, sessions: sessionmaker[Session]) -> Iterator[Session]:
        session = sessions()
        try:
            with _translated(), session.begin():
                yield session
        finally:
            session.close()

    def schema_revision(self) -> str | None:
        """The store's migration revision, or None for an empty store."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()

    @contextmanager
    def setup_lock(self) -> Iterator[None]:
        """Serialise one-time setup between processes starting together on one PostgreSQL
        store (migrations, the root account): a session advisory lock, held on a connection of
        its own for the duration of the block. On SQLite, its single writer already does."""
        if self.is_sqlite:
            yield
            return
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _SETUP_LOCK_KEY})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _SETUP_LOCK_KEY})

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent). Processes starting together
        migrate one after another: the first upgrades, the others then find the schema there."""
        if self.schema_revision() == SCHEMA_HEAD:
            return
        with self.setup_lock():
            self._upgrade()

    def _upgrade(self) -> None:
        if self.schema_revision() == SCHEMA_HEAD:
            return
        # Imported here: Alembic costs a CLI call ~0.4 s of start-up, and is needed only once.
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.engine.connect() as conn:
            config.attributes["connection"] = conn
            config.attributes["schema"] = self.schema
            command.upgrade(config, "head")
            if conn.in_transaction():
                conn.commit()

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def request_savepoint(session: Session) -> Iterator[None]:
    """A savepoint inside `Database.request_transaction()` whose `after_commit` actions go with
    its writes: when the block raises, its writes are rolled back and what it gave
    `after_commit` is dropped (the request still commits what came before the savepoint)."""
    joined = _REQUEST.get()
    later = joined[2] if joined is not None else None
    mark = len(later) if later is not None else 0
    try:
        with session.begin_nested():
            yield
    except BaseException:
        if later is not None:
            del later[mark:]
        raise
