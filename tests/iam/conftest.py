"""Fixtures of the IAM tests: a real store on each backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings
from opcenter.store.db import Database

ACCOUNT = "1000000000000000"


@pytest.fixture
def ictx(db: Database, tmp_path: Path) -> ServiceContext:
    """A service context on a fresh store of each backend; clock fixed at 1_700_000_000_000 ms."""
    settings = load_settings(
        environ={}, dotenv=None, data_dir=tmp_path / "data", timezone="UTC", account_id=ACCOUNT
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return ServiceContext(db=db, settings=settings, clock=lambda: 1_700_000_000_000)
