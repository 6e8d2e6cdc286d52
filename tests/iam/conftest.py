"""Fixtures of the IAM tests: a real SQLite store, users, workspaces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opcenter.service.context import ServiceContext
from opcenter.settings import load_settings

ACCOUNT = "1000000000000000"


@pytest.fixture
def ictx(tmp_path: Path) -> Iterator[ServiceContext]:
    """A service context on a fresh SQLite store; clock fixed at 1_700_000_000_000 ms."""
    settings = load_settings(
        environ={}, dotenv=None, data_dir=tmp_path / "data", timezone="UTC", account_id=ACCOUNT
    )
    context = ServiceContext.open(settings)
    context.clock = lambda: 1_700_000_000_000
    yield context
    context.db.dispose()
