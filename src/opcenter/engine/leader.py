"""One engine per store: the leadership an engine must hold before it drives any Dag.

The lock lives with the store, never with a data directory, so two `opcenter serve` with
different data directories on one database still exclude each other:

- **SQLite**: an exclusive `flock` on `<database file>.engine.lock`, beside the database file.
- **PostgreSQL**: a session advisory lock (`pg_try_advisory_lock`) on a dedicated connection kept
  open for as long as the leadership is held. The key is a hash of the database name and the
  schema the store lives in, so stores in different schemas of one database are independent.

Both are released by the operating system or the database server when the holding process
ends, however it ends (SIGKILL included): a crashed leader never leaves a stale lock behind,
and a standby process can take over as soon as it is gone.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from opcenter.settings import Settings
from opcenter.store.db import Database

__all__ = ["Leadership", "advisory_key", "lock_file"]

logger = logging.getLogger(__name__)

_KEY_PREFIX = "opcenter-engine"  # so another application's advisory locks never collide
_HELD_SQL = sa.text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid::bigint = :high AND objid::bigint = :low"
    " AND objsubid = 1)"
)


def lock_file(db: Database, settings: Settings) -> Path:
    """The SQLite store's lock file: `<database file>.engine.lock` (the real path, so two
    spellings of one file share one lock). An in-memory store, private to its process, uses
    `<data_dir>/engine.lock`."""
    path = make_url(db.url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return Path(settings.data_dir).resolve() / "engine.lock"
    return Path(os.path.realpath(path) + ".engine.lock")


def advisory_key(database: str, schema: str) -> int:
    """The PostgreSQL advisory lock key of a store: a signed 64-bit hash of its database and
    schema (advisory locks are per database; the schema separates stores within one)."""
    digest = hashlib.blake2b(f"{_KEY_PREFIX}:{database}:{schema}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


class Leadership:
    """The store's engine leadership. `acquire()` never blocks; `held()` is cheap (a `fstat`
    on SQLite, one query on PostgreSQL) and False on any error; `release()` is idempotent.
    Safe to call from several threads."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._mutex = threading.Lock()
        self._fd: int | None = None  # SQLite: the locked file
        self._path: Path | None = None
        self._conn: Connection | None = None  # PostgreSQL: the session holding the lock
        self._key: int | None = None

    def __repr__(self) -> str:
        where = self._path if self.db.is_sqlite else f"advisory lock {self._key}"
        return f"Leadership({where}, held={self._fd is not None or self._conn is not None})"

    def acquire(self) -> bool:
        """Take the leadership; False when another process (or another Leadership) has it.
        True at once when this one already holds it and still does."""
        with self._mutex:
            if self.db.is_sqlite:
                return self._acquire_file()
            return self._acquire_advisory()

    def held(self) -> bool:
        """True while this leadership is still ours."""
        with self._mutex:
            if self.db.is_sqlite:
                return self._file_held()
            return self._advisory_held()

    def release(self) -> None:
        """Give the leadership up (nothing happens when it is not held)."""
        with self._mutex:
            self._release_file()
            self._release_advisory()

    # -- SQLite ---------------------------------------------------------------------------------

    def _acquire_file(self) -> bool:
        if self._fd is not None:
            if self._file_held():
                return True
            self._release_file()
        path = lock_file(self.db, self.settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for a person wondering who leads
        self._fd, self._path = fd, path
        return True

    def _file_held(self) -> bool:
        # A lock file deleted (or replaced) under us would let another process lock a new
        # file at the same path: the lock is ours only while the path is still our file.
        if self._fd is None or self._path is None:
            return False
        try:
            return os.fstat(self._fd).st_ino == os.stat(self._path).st_ino
        except OSError:
            return False

    def _release_file(self) -> None:
        if self._fd is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        except OSError:
            pass  # closing the descriptor releases it anyway
        finally:
            os.close(self._fd)
            self._fd = self._path = None

    # -- PostgreSQL -----------------------------------------------------------------------------

    def _acquire_advisory(self) -> bool:
        if self._conn is not None:
            if self._advisory_held():
                return True
            self._release_advisory()
        try:
            conn = self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except sa.exc.SQLAlchemyError:
            logger.warning("cannot reach the store to take the engine leadership", exc_info=True)
            return False
        try:
            database, schema = conn.execute(
                sa.text("SELECT current_database(), current_schema()")
            ).one()
            key = advisory_key(database, schema or "public")
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
        except sa.exc.SQLAlchemyError:
            _discard(conn)
            logger.warning("cannot take the engine leadership", exc_info=True)
            return False
        if not got:
            conn.close()
            return False
        self._conn, self._key = conn, key
        return True

    def _advisory_held(self) -> bool:
        if self._conn is None or self._key is None:
            return False
        high, low = (self._key >> 32) & 0xFFFFFFFF, self._key & 0xFFFFFFFF
        try:
            return bool(self._conn.execute(_HELD_SQL, {"high": high, "low": low}).scalar())
        except Exception:  # any failure means we cannot vouch for the lock
            return False

    def _release_advisory(self) -> None:
        if self._conn is None:
            return
        # Closing the session for real (not back to the pool) releases every lock it holds,
        # and works even when the connection is already broken.
        _discard(self._conn)
        self._conn = self._key = None


def _discard(conn: Connection) -> None:
    try:
        conn.invalidate()
    except Exception:  # the session is gone either way
        logger.debug("closing the leadership connection failed", exc_info=True)
    finally:
        conn.close()
