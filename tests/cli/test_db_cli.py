"""`opcenter db revision` and `opcenter db upgrade`: the store's schema, one step of its own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from opcenter.store.db import SCHEMA_HEAD
from tests.cli.processes import OPCENTER


def _opcenter(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **env}
    environ.pop("OPCENTER_DATABASE_URL", None)
    environ.update(env)
    return subprocess.run(
        [str(OPCENTER), *args], env=environ, capture_output=True, text=True, timeout=60
    )


def test_db_upgrade_brings_an_empty_store_to_this_version_once(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert _opcenter("db", "revision", "--data-dir", data).stdout == (
        f"store: empty; this version: {SCHEMA_HEAD}\n"
    )
    first = _opcenter("db", "upgrade", "--data-dir", data)
    assert first.stdout == f"The store was upgraded from empty to revision {SCHEMA_HEAD}.\n"
    again = _opcenter("db", "upgrade", "--data-dir", data)
    assert again.stdout == f"The store is at revision {SCHEMA_HEAD} already.\n"
    assert _opcenter("db", "revision", "--data-dir", data).stdout.startswith(
        f"store: {SCHEMA_HEAD};"
    )


def test_db_upgrade_says_in_one_line_when_the_store_cannot_be_reached(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/none"
    failed = _opcenter("db", "upgrade", "--data-dir", str(tmp_path), OPCENTER_DATABASE_URL=url)
    assert failed.returncode == 1
    assert failed.stderr.startswith("Error: the store failed: ")
    assert len(failed.stderr.splitlines()) == 1
