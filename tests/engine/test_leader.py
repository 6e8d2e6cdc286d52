"""Engine leadership on both backends: one holder per store, released by `release()` or by the
death of the holding process (SIGKILL), independent per store (file, or PostgreSQL schema)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from opcenter.engine.leader import Leadership, advisory_key, lock_file
from opcenter.settings import Settings, load_settings
from opcenter.store.db import Database
from tests.conftest import PG_URL, fresh_pg_schema
from tests.engine.builders import wait_for

_HOLDER = """
import sys, time
from pathlib import Path
from opcenter.engine.leader import Leadership
from opcenter.settings import load_settings
from opcenter.store.db import Database
url, schema, data_dir = sys.argv[1], sys.argv[2] or None, sys.argv[3]
db = Database(url, schema=schema)
lead = Leadership(db, load_settings(environ={}, dotenv=None, data_dir=Path(data_dir)))
print("held" if lead.acquire() else "busy", flush=True)
time.sleep(120)
"""


def _settings(tmp_path: Path, name: str) -> Settings:
    return load_settings(environ={}, dotenv=None, data_dir=tmp_path / name)


@pytest.fixture
def leaderships(db: Database, tmp_path: Path) -> Iterator[list[Leadership]]:
    made: list[Leadership] = []
    yield made
    for lead in made:
        lead.release()


def _new(db: Database, tmp_path: Path, made: list[Leadership], name: str = "a") -> Leadership:
    lead = Leadership(db, _settings(tmp_path, name))
    made.append(lead)
    return lead


def test_leadership_is_refused_to_a_second_holder_until_the_first_releases(
    db: Database, tmp_path: Path, leaderships: list[Leadership]
) -> None:
    # Given two data directories on one store
    first = _new(db, tmp_path, leaderships, "a")
    second = _new(db, tmp_path, leaderships, "b")
    # When the first takes the leadership
    assert first.acquire() is True
    # Then the second cannot, and only the first holds it
    assert second.acquire() is False
    assert (first.held(), second.held()) == (True, False)
    assert first.acquire() is True  # idempotent while held
    # And once the first releases, the second takes it
    first.release()
    assert first.held() is False
    assert second.acquire() is True
    assert second.held() is True
    assert first.acquire() is False


def test_leadership_passes_to_a_standby_when_its_holder_is_killed(
    db: Database, tmp_path: Path, leaderships: list[Leadership]
) -> None:
    # Given another process holding the leadership
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, db.url, db.schema or "", str(tmp_path / "other")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        standby = _new(db, tmp_path, leaderships)
        assert standby.acquire() is False
        # When the holder dies without a chance to clean up
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    # Then the standby takes over
    wait_for(standby.acquire, timeout=20, interval=0.1)
    assert standby.held() is True


def test_leadership_held_is_false_given_the_lock_file_was_replaced(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    lead = Leadership(db, _settings(tmp_path, "a"))
    assert lead.acquire()
    try:
        path = lock_file(db, lead.settings)
        assert path == (tmp_path / "store.db.engine.lock").resolve()
        path.unlink()
        assert lead.held() is False
    finally:
        lead.release()
        db.dispose()


@pytest.fixture
def other_store(backend: str, tmp_path: Path, pg_ready: bool) -> Iterator[Database]:
    """A second, independent store of the same backend: another SQLite file, or another schema
    of the same PostgreSQL database."""
    if backend == "sqlite":
        other = Database(f"sqlite:///{tmp_path / 'other.db'}")
        yield other
        other.dispose()
        return
    with fresh_pg_schema(pg_ready) as schema:
        other = Database(PG_URL, schema=schema)
        yield other
        other.dispose()


def test_leadership_of_two_stores_is_independent(
    db: Database, other_store: Database, tmp_path: Path, leaderships: list[Leadership]
) -> None:
    first = _new(db, tmp_path, leaderships, "a")
    second = Leadership(other_store, _settings(tmp_path, "a"))  # even one data directory
    leaderships.append(second)
    assert first.acquire() is True
    assert second.acquire() is True
    assert (first.held(), second.held()) == (True, True)


def test_advisory_key_depends_on_database_and_schema() -> None:
    keys = {advisory_key("test", "t_a"), advisory_key("test", "t_b"), advisory_key("x", "t_a")}
    assert len(keys) == 3
    assert advisory_key("test", "t_a") == advisory_key("test", "t_a")
    assert all(-(2**63) <= key < 2**63 for key in keys)
